"""Session settings reach yoyo's per-migration connections through the URL."""

import pytest
from yoyo.connections import parse_uri

from app.migrations import yoyo_url


def test_extra_parameters_join_the_urls_own_and_options_are_merged_not_replaced():
    url = yoyo_url(
        "postgresql://user:p%40ss@db:5433/goalgpt?sslmode=require&options=-c%20search_path%3Dapp",
        options="-c lock_timeout=2000",
        application_name="goalgpt-migrate",
    )
    parsed = parse_uri(url)
    assert parsed.scheme == "postgresql+psycopg"
    assert (parsed.username, parsed.password, parsed.port, parsed.database) == (
        "user",
        "p@ss",
        5433,
        "goalgpt",
    )
    assert parsed.args == {
        "sslmode": "require",
        "options": "-c search_path=app -c lock_timeout=2000",
        "application_name": "goalgpt-migrate",
    }


def test_a_url_that_is_not_postgresql_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match=r"^not a postgresql:// URL: mysql://\.\.\.$"):
        yoyo_url("mysql://root:secret@db/goalgpt")
