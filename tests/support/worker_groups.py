"""`make test` runs on three pytest-xdist workers. The tests that share an expensive
session fixture (the seven-host lab, the e2e deployment) all go to one worker, so a run
boots one lab and makes one deployment; every other test goes to whichever worker is
free. xdist's own `--dist loadgroup` cannot do this under pytest 9.2: it marks a group
by renaming test ids, which pytest no longer lets a plugin do.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# The shared session fixture -> where the tests that use it live.
SHARED_FIXTURES = {
    "lab": ("tests/lab/", "tests/fleet/"),
    "deployment": ("tests/e2e/",),
}
# The lab's own tests look at the bare lab (HTTP and SSH between its hosts): they run
# before the fleet is deployed onto it, whose firewall drops what they send.
RUN_FIRST = ("tests/lab/",)
# Tests that leave the lab's fleet deployed otherwise (a valid fleet, not a broken one):
# they run after every other test of their worker, so none needs a deploy back.
RUN_LAST = (
    "tests/fleet/test_pgbouncer_lab.py::"
    "test_a_fleet_above_max_connections_needs_pgbouncer_and_serves_a_burst_through_it",
)


def group_of(nodeid: str) -> str | None:
    """The shared fixture whose worker runs this test, or None: any worker."""
    for fixture, homes in SHARED_FIXTURES.items():
        if nodeid.startswith(homes):
            return fixture
    return None


def misplaced(nodeid: str, fixturenames: list[str]) -> str | None:
    """Why a test using a shared fixture outside its directories would break the run
    (a second lab with the same id, a second deployment), or None."""
    for fixture, homes in SHARED_FIXTURES.items():
        if fixture in fixturenames and not nodeid.startswith(homes):
            return f"{nodeid} uses `{fixture}`: put it under {' or '.join(homes)}"
    return None


def run_order(nodeid: str) -> int:
    """A sort key: 0 for the tests that must run before the others of their worker, 2
    for those that must run after them, 1 for the rest."""
    if nodeid.startswith(RUN_FIRST):
        return 0
    return 2 if nodeid.startswith(RUN_LAST) else 1


class OneWorkerPerSharedFixture(LoadScopeScheduling):
    """Largest groups first (xdist's default), one test at a time for the rest."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid) or nodeid
