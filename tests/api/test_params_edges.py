"""Parameter validation at the edge of every range, and the exact words of each refusal."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from app.cache import PREFIX, cache_key
from app.web import params
from app.web.params import MAX_BIGINT, MAX_VALUE_CHARS, Cursor, InvalidParameter, parse_matched

MAX_CURSOR_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


@pytest.mark.parametrize(
    ("text", "ok"),
    [("0", False), ("1", True), ("200", True), ("201", False), ("0200", True), ("x1", False)],
)
def test_a_whole_number_is_taken_from_its_first_to_its_last_allowed_value(text, ok):
    # Built here, not at import: the rule itself is what is checked.
    parse, allowed = params._whole_number(1, 200)

    assert allowed == "a whole number from 1 to 200"
    if ok:
        assert parse(text) == int(text)
    else:
        with pytest.raises(ValueError):
            parse(text)


@pytest.mark.parametrize(("text", "limit"), [("1", 1), ("200", 200), (" 7 ", 7)])
def test_limit_accepts_1_to_200(text, limit):
    assert parse_matched([("limit", text)]).limit == limit


@pytest.mark.parametrize(("user_id", "ok"), [(1, True), (MAX_BIGINT, True), (0, False)])
def test_user_id_spans_a_positive_bigint(user_id, ok):
    if ok:
        assert parse_matched([("user_id", str(user_id))]).user_id == user_id
    else:
        with pytest.raises(InvalidParameter):
            parse_matched([("user_id", str(user_id))])


@pytest.mark.parametrize(
    ("cursor", "ok"),
    [
        (f"{MAX_CURSOR_US}-1", True),
        (f"{MAX_CURSOR_US + 1}-1", False),
        (f"0-{MAX_BIGINT}", True),
        (f"0-{MAX_BIGINT + 1}", False),
        ("0-1", True),
        ("0-0", False),
    ],
)
def test_a_cursor_spans_every_timestamp_to_year_9999_and_every_positive_row_id(cursor, ok):
    if ok:
        parsed = parse_matched([("cursor", cursor)]).cursor
        assert str(parsed) == cursor
    else:
        with pytest.raises(InvalidParameter):
            parse_matched([("cursor", cursor)])


def test_a_value_of_64_characters_is_read_and_65_are_refused():
    padded = "0" * (MAX_VALUE_CHARS - 1) + "5"
    assert parse_matched([("limit", padded)]).limit == 5
    with pytest.raises(InvalidParameter) as refused:
        parse_matched([("limit", "0" + padded)])
    assert refused.value.allowed == "a whole number from 1 to 200, at most 64 characters"


def test_each_refusal_says_what_is_allowed_in_words():
    cases = {
        ("offset", "1"): (
            "offset",
            "one of the known parameters: limit, user_id, date, status, cursor",
        ),
        ("limit", " "): ("limit", "a whole number from 1 to 200, not empty"),
        ("status", "open"): ("status", "one of pending, won, lost, void"),
        ("date", "x"): ("date", "a date as YYYY-MM-DD"),
        ("cursor", "x"): ("cursor", "the next_cursor of a previous page"),
    }
    for item, (parameter, allowed) in cases.items():
        with pytest.raises(InvalidParameter) as refused:
            parse_matched([item])
        assert (refused.value.parameter, refused.value.allowed) == (parameter, allowed)
        assert str(refused.value) == f"invalid parameter {parameter!r}: must be {allowed}"
    with pytest.raises(InvalidParameter) as twice:
        parse_matched([("limit", "1"), ("LIMIT", "2")])
    assert (twice.value.parameter, twice.value.allowed) == ("limit", "given once")


def test_an_unknown_name_is_echoed_cut_to_64_characters():
    with pytest.raises(InvalidParameter) as refused:
        parse_matched([("x" * 100, "1")])
    assert refused.value.parameter == "x" * MAX_VALUE_CHARS


def test_key_params_spell_every_value_as_the_key_needs_it():
    cursor = Cursor(dt.datetime(2026, 1, 24, tzinfo=dt.UTC), 9)
    query = parse_matched(
        [
            ("limit", "3"),
            ("user_id", "4"),
            ("date", "2026-01-24"),
            ("status", "WON"),
            ("cursor", str(cursor)),
        ]
    )

    assert query.key_params() == {
        "limit": 3,
        "user_id": 4,
        "date": "2026-01-24",
        "status": "won",
        "cursor": "1769212800000000-9",
    }
    assert parse_matched([]).key_params() == {
        "limit": 50,
        "user_id": None,
        "date": None,
        "status": None,
        "cursor": None,
    }


def test_the_key_is_the_hash_of_the_sorted_compact_json():
    key = cache_key({"b": 1, "a": None, "d": dt.date(2026, 1, 24)})

    canonical = b'{"a":null,"b":1,"d":"2026-01-24"}'
    assert key == PREFIX + hashlib.sha256(canonical).hexdigest()[:32]
    assert cache_key({"a": 1}, prefix="p:") == "p:" + hashlib.sha256(b'{"a":1}').hexdigest()[:32]
