"""The sweep that runs after the whole suite (tests/conftest.py): no log file
any test produced may hold a token, a password or a secret key."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

LOG_NAME = re.compile(r"\.(log|out)(\.\d+)?$")
SHAPES = [
    ("JWT", re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    ("bearer credentials", re.compile(r"(?i)bearer\s+(?!\[redacted)[A-Za-z0-9._~+/=-]{8,}")),
    ("query token", re.compile(r"(?i)[?&]token=(?!\[redacted)[^&\s\"']+")),
    (
        "password value",
        re.compile(r"(?i)[\"']?password[\"']?\s*[:=]\s*[\"']?(?!\[redacted)[^\"'&\s,}]+"),
    ),
]


def log_files(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from (p for p in sorted(root.rglob("*")) if LOG_NAME.search(p.name))


def find_secrets(files: Iterable[Path], known: Iterable[str]) -> list[str]:
    """`path:line: what` for every secret-shaped or known secret string found."""
    literals = [secret for secret in known if secret]
    found = []
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                hits = [name for name, shape in SHAPES if shape.search(line)]
                hits += ["known secret" for secret in literals if secret in line]
                found += [f"{path}:{number}: {hit}" for hit in hits]
    return found
