"""The test scheduler's reach into pytest-xdist (tests/scheduling.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

from tests.scheduling import SPREAD, FilesAndSpreadScheduling

ROOT = Path(__file__).parents[1]


def test_canary_load_scope_scheduling_groups_by_split_scope() -> None:
    """xdist still groups the work queue by `_split_scope` (renamed or gone: this fails)."""
    assert "self._split_scope(" in inspect.getsource(LoadScopeScheduling)


def test_a_file_stays_whole_and_a_spread_file_goes_test_by_test() -> None:
    """Two tests of one file share a scope; two of a spread file do not."""
    split = FilesAndSpreadScheduling._split_scope
    plain = "tests/realtime/test_codes.py"
    assert split(None, f"{plain}::test_a") == split(None, f"{plain}::test_b[x]") == plain  # type: ignore[arg-type]
    spread = "tests/test_readme.py"
    assert split(None, f"{spread}::test_a") != split(None, f"{spread}::test_b")  # type: ignore[arg-type]
    assert all((ROOT / path).is_file() for path in SPREAD)
