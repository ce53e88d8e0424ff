"""The code cites the repository's own docs: every `docs/` page it names
exists, and nothing points at a contract the repository does not hold."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("realtime", "chaos", "loadtests")


def code_files() -> list[Path]:
    suffixes = {".py", ".js", ".html", ".css", ".conf"}
    return [p for d in CODE for p in (ROOT / d).rglob("*") if p.suffix in suffixes]


def test_no_code_cites_design() -> None:
    """No `DESIGN §N` in realtime/, chaos/ or loadtests/ (nor in `realtime --help`)."""
    citing = [str(p.relative_to(ROOT)) for p in code_files() if "DESIGN" in p.read_text()]
    assert citing == []


def test_every_docs_page_the_code_names_exists() -> None:
    """A comment that says `docs/x.md` points at a page that is there."""
    named = {m for p in code_files() for m in re.findall(r"docs/[\w-]+\.md", p.read_text())}
    assert named
    assert sorted(n for n in named if not (ROOT / n).exists()) == []
