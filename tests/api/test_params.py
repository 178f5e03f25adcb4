"""Parameter validation and cache keys: every spelling of a meaning, one key."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import fields, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cache import PREFIX, cache_key
from app.web.params import (
    DEFAULT_LIMIT,
    MAX_BIGINT,
    STATUSES,
    Cursor,
    InvalidParameter,
    MatchedQuery,
    parse_matched,
)

queries = st.builds(
    MatchedQuery,
    limit=st.integers(1, 200),
    user_id=st.none() | st.integers(1, MAX_BIGINT),
    date=st.none() | st.dates(dt.date(1900, 1, 1), dt.date(9999, 12, 31)),
    status=st.none() | st.sampled_from(STATUSES),
    cursor=st.none()
    | st.builds(
        Cursor,
        created_at=st.datetimes(
            dt.datetime(1970, 1, 1), dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
        ),
        id=st.integers(1, MAX_BIGINT),
    ),
)


def spell(query: MatchedQuery, rnd: random.Random) -> list[tuple[str, str]]:
    """One of the many query strings that mean `query`."""
    values = {
        "limit": query.limit,
        "user_id": query.user_id,
        "date": query.date.isoformat() if query.date else None,
        "status": query.status,
        "cursor": str(query.cursor) if query.cursor else None,
    }
    items = []
    for name, value in values.items():
        if value is None or (name == "limit" and value == DEFAULT_LIMIT and rnd.random() < 0.5):
            continue  # omitted, or the default left out
        text = str(value)
        if isinstance(value, int):
            text = "0" * rnd.randint(0, 3) + text
        if name == "status":
            text = "".join(c.upper() if rnd.random() < 0.5 else c for c in text)
        name_spelling = name.upper() if rnd.random() < 0.3 else name
        items.append((name_spelling, " " * rnd.randint(0, 1) + text))
    rnd.shuffle(items)
    return items


@given(queries, st.randoms(use_true_random=False))
def test_every_spelling_of_a_request_parses_to_it_and_shares_its_key(query, rnd):
    first, second = parse_matched(spell(query, rnd)), parse_matched(spell(query, rnd))
    assert first == second == query
    assert cache_key(first.key_params()) == cache_key(query.key_params())


@given(queries, queries)
def test_requests_that_differ_in_meaning_never_share_a_key(a, b):
    if a != b:
        assert cache_key(a.key_params()) != cache_key(b.key_params())


def _step(value: int, low: int, high: int) -> int:
    return value + 1 if value < high else value - 1 if value > low else value


US = dt.timedelta(microseconds=1)
FIRST_CURSOR = Cursor(dt.datetime(1970, 1, 1, tzinfo=dt.UTC), 1)


def _next_day(day: dt.date | None) -> dt.date:
    if day is None:
        return dt.date(2026, 1, 24)
    return day + dt.timedelta(1) if day.year < 9999 else day - dt.timedelta(1)


def _next_status(status: str | None) -> str:
    return "won" if status is None else STATUSES[(STATUSES.index(status) + 1) % len(STATUSES)]


# The closest different value of each parameter: a key that drops precision, or
# maps None and a value alike, collides here even when random pairs never meet.
NEIGHBOURS = {
    "limit": ("limit", lambda v: _step(v, 1, 200)),
    "user_id": ("user_id", lambda v: 1 if v is None else _step(v, 1, MAX_BIGINT)),
    "date": ("date", _next_day),
    "status": ("status", _next_status),
    "cursor time": (
        "cursor",
        lambda v: replace(v, created_at=v.created_at + US) if v else FIRST_CURSOR,
    ),
    "cursor id": (
        "cursor",
        lambda v: FIRST_CURSOR if v is None else replace(v, id=_step(v.id, 1, MAX_BIGINT)),
    ),
}


@given(queries, st.sampled_from(sorted(NEIGHBOURS)))
def test_the_smallest_change_of_any_parameter_changes_the_key(query, neighbour):
    name, step = NEIGHBOURS[neighbour]
    changed = replace(query, **{name: step(getattr(query, name))})
    assert changed != query
    assert cache_key(changed.key_params()) != cache_key(query.key_params())


def test_every_parameter_has_a_neighbour_in_the_key_test():
    assert {name for name, _ in NEIGHBOURS.values()} == {f.name for f in fields(MatchedQuery)}


@given(queries)
def test_key_is_versioned_and_keeps_128_bits(query):
    key = cache_key(query.key_params())
    assert key.startswith("goalgpt:v1:predictions:matched:") and key.startswith(PREFIX)
    assert len(key.removeprefix(PREFIX)) == 32
    int(key.removeprefix(PREFIX), 16)


def test_omitted_parameters_take_their_defaults():
    assert parse_matched([]) == MatchedQuery(limit=50)
    assert parse_matched([("limit", "50")]) == parse_matched([])


@given(st.text(min_size=1, max_size=20), st.text(max_size=20))
def test_unknown_parameters_are_rejected_so_they_cannot_mint_keys(name, value):
    if name.strip().lower() in ("limit", "user_id", "date", "status", "cursor"):
        return
    with pytest.raises(InvalidParameter):
        parse_matched([(name, value)])


# Values each parameter refuses; the error names that parameter.
BAD_VALUES = {
    "limit": ["abc", "0", "201", "-1", "1.5", "", "9" * 400, "1; DROP TABLE predictions"],
    # Full-width digits (U+FF11 U+FF12) are not digits here.
    "user_id": ["0", str(2**63), "\uff11\uff12", "1 OR 1=1", " "],
    "date": ["2026-02-30", "24/01/2026", "2026-01-24T00:00", "2026-1-4", ""],
    "status": ["open", "won' OR '1'='1", "w" * 65],
    "cursor": ["abc", "123", "1-0", "999999999999999999999-1"],
}
# Requests refused as a whole, and the parameter named: a repeat, unknown names.
BAD_REQUESTS = [
    ([("limit", "1"), ("limit", "2")], "limit"),
    ([("offset", "10")], "offset"),
    ([("limit", "5"), ("utm_source", "x")], "utm_source"),
]


@pytest.mark.parametrize(
    ("items", "parameter"),
    [([(name, value)], name) for name, values in BAD_VALUES.items() for value in values]
    + BAD_REQUESTS,
)
def test_bad_input_names_the_parameter(items, parameter):
    with pytest.raises(InvalidParameter) as raised:
        parse_matched(items)
    assert raised.value.parameter == parameter
    assert raised.value.allowed


def test_cursor_round_trips_through_its_text():
    cursor = Cursor(dt.datetime(2026, 1, 24, 10, 30, 0, 123456, tzinfo=dt.UTC), 42)
    assert parse_matched([("cursor", str(cursor))]).cursor == cursor


def test_key_params_name_every_field_so_no_parameter_is_left_out_of_the_key():
    assert set(MatchedQuery().key_params()) == {f.name for f in fields(MatchedQuery)}
