"""The one place the tests reach into pytest-xdist's private names (pinned
exactly in pyproject.toml; a canary in tests/test_scheduling.py): a
scheduler that keeps each test file on one worker, so that its module's
servers start once, except the files whose tests are long and share nothing
costly, which go test by test to whichever worker is free."""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

SPREAD = frozenset({"tests/chaos/test_scenarios.py", "tests/test_readme.py"})


class FilesAndSpreadScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return nodeid if path in SPREAD else path
