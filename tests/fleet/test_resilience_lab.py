"""The fleet's one rq cron outlives the queue Redis (systemd, on the lab's one fleet
deployment `first_fleet_deploy`), and its absence fires an alert naming its runbook.

- The queue Redis stopped for a minute; meanwhile rq cron restarted and its worker host
  rebooted (a unit started during the outage: the old one hit its start limit and stayed
  failed). Within a minute of Redis starting, exactly one rq cron runs in the fleet and a
  scheduled job runs.
- rq cron stopped (Redis up): GoalGPTSchedulerMissing fires in Prometheus on mon-1,
  naming docs/runbooks/rq-cron-missing.md.

Runs after test_release_lab.py (file order) and starts what it stopped, also on failure.
"""

from __future__ import annotations

import time

import pytest

from app.infra import fleet_registry
from tests.fleet.hosts import firing, on, report, rule_annotations, sudo, url
from tests.support.gunicorn import get
from tests.support.prometheus import sample_value
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

OUTAGE_S = 60  # the outage: long enough for every start-limit give-up seen before
CRON = "-m app.jobs.cron"


@pytest.fixture(scope="module")
def fleet(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0, first_fleet_deploy.run.tail()
    return lab


def crons(lab) -> list[str]:
    """host:pid of every rq cron process in the fleet."""
    found = []
    for host in lab.groups["workers"]:
        listing = on(lab, host, "ps -ww -u goalgpt -o pid=,args=")
        found += [f"{host}:{line.split()[0]}" for line in listing.splitlines() if CRON in line]
    return found


def metrics(lab) -> str:
    return get(url(lab, lab.groups["app"][0], "/metrics")).body.decode()


def running_schedulers(lab) -> int:
    """Schedulers whose heartbeat in the queue Redis is fresh, as app-1's /metrics shows."""
    now = time.time()
    text = metrics(lab)
    beats = [
        line.rsplit(" ", 1)[1]
        for line in text.splitlines()
        if line.startswith("goalgpt_cron_heartbeat_timestamp_seconds{")
    ]
    return sum(1 for beat in beats if now - float(beat) < fleet_registry.FRESH_S)


def last_tick(lab) -> float:
    text = metrics(lab)
    return sample_value(text, "goalgpt_job_last_success_timestamp_seconds", job="match_minute")


def test_queue_redis_down_a_minute_with_rq_cron_restarted_and_its_host_rebooted(fleet):
    lab = fleet
    cron_host, redis = lab.groups["workers"][0], lab.groups["redis"][0]
    sudo(lab, redis, "systemctl stop goalgpt-redis-queue")
    down = time.monotonic()
    try:
        sudo(lab, cron_host, "systemctl restart goalgpt-cron")
        lab.reboot(cron_host)  # its units start at boot, while the queue Redis is down
        wait_for(
            lambda: (
                "waiting for the queue Redis"
                in sudo(lab, cron_host, "journalctl -b -u goalgpt-cron --no-pager")
            ),
            60,
            "rq cron, started at boot, to wait for the queue Redis",
        )
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down)))  # the rest of the outage
        states = sudo(lab, cron_host, "systemctl is-active goalgpt-cron goalgpt-worker@1 || true")
        assert states.split() == ["active", "active"], states
    finally:
        sudo(lab, redis, "systemctl start goalgpt-redis-queue")
    back = time.time()

    wait_for(lambda: len(crons(lab)) == 1 and running_schedulers(lab) == 1, 60, "one rq cron", 1)
    report(f"rq cron registered {time.time() - back:.0f} s after the queue Redis came back")
    assert crons(lab)[0].startswith(f"{cron_host}:")
    wait_for(lambda: last_tick(lab) > back, 120, "a match-minute tick after the outage", 2)


def test_no_rq_cron_fires_an_alert_naming_the_scheduler_and_its_runbook(fleet):
    lab = fleet
    cron_host = lab.groups["workers"][0]
    sudo(lab, cron_host, "systemctl stop goalgpt-cron")
    stopped = time.monotonic()
    try:
        (alert,) = wait_for(
            lambda: firing(lab, "GoalGPTSchedulerMissing"), 240, "GoalGPTSchedulerMissing", 2
        )
        report(f"GoalGPTSchedulerMissing fired {time.monotonic() - stopped:.0f} s after the stop")
    finally:
        sudo(lab, cron_host, "systemctl start goalgpt-cron")
        wait_for(lambda: running_schedulers(lab) == 1, 60, "rq cron back", 1)

    assert alert["metric"]["severity"] == "critical"
    annotations = rule_annotations(lab, "GoalGPTSchedulerMissing")
    assert annotations["runbook"] == "docs/runbooks/rq-cron-missing.md"
    assert "No rq cron runs in the fleet" in annotations["summary"]
