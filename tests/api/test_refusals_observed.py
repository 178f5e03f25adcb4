"""Every refusal PostgreSQL logs is one the app counts, and no more: its own log is the witness.

All five slots of a small server are taken, so every connection the app's pool
tries is refused ("sorry, too many clients already", SQLSTATE 53300). Once the
app is closed (no attempt in flight), the increase of
goalgpt_db_too_many_clients_total{source="connect"} on /metrics must equal the
53300 lines the server wrote meanwhile.
"""

from __future__ import annotations

import psycopg
import pytest
from prometheus_client import REGISTRY

from app import config
from app.web import close_app, create_app
from tests.support.prometheus import sample_value

pytestmark = pytest.mark.slow

COUNTER = "goalgpt_db_too_many_clients_total"
REFUSAL = "53300 FATAL:  sorry, too many clients already"


def test_refusals_counted_by_the_app_match_the_servers_log(start_postgres, redis_url):
    server = start_postgres(max_connections=5)
    held = [psycopg.connect(server.url()) for _ in range(5)]
    log_start = len(server.log_text())
    settings = config.load(
        {
            "DATABASE_URL": server.url(),
            "REDIS_URL": redis_url,
            "DB_MAX_CONNECTIONS": "3",
            "POOL_TIMEOUT_S": "1",
        }
    )
    # This process's counter before the app's pool makes its first attempt.
    before = REGISTRY.get_sample_value(COUNTER, {"source": "connect"}) or 0.0
    app = create_app(settings)
    try:
        client = app.test_client()
        answers = [client.get(f"/api/predictions/matched?limit={n}") for n in (1, 2, 3)]
    finally:
        close_app(app)
    after = sample_value(
        app.test_client().get("/metrics").get_data(as_text=True),
        COUNTER,
        source="connect",
    )
    for conn in held:
        conn.close()

    logged = server.log_text()[log_start:].count(REFUSAL)
    assert [a.status_code for a in answers] == [503, 503, 503]
    assert logged >= 1
    assert after - before == logged
