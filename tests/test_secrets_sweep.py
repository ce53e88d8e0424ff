from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.secrets_sweep import find_secrets, log_files

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside pytest's temp root, so the planted leaks stay out of the real sweep."""
    with tempfile.TemporaryDirectory(prefix="sweep-") as folder:
        yield Path(folder)


def test_sweep_finds_each_kind_of_leak(outside: Path) -> None:
    """Tokens, bearer credentials, query tokens, passwords and known keys are each reported."""
    log = outside / "logs" / "websocket.log"
    log.parent.mkdir()
    log.write_text(
        f"a {JWT}\nAuthorization: Bearer abcdefgh1234\nGET /ws/orders/?token=abc\n"
        'body {"password": "hunter2"}\nkey the-signing-key here\nnothing here\n'
    )
    found = find_secrets(log_files([outside]), ["the-signing-key"])
    assert [line.split(": ", 1)[1] for line in found] == [
        "JWT",
        "bearer credentials",
        "query token",
        "password value",
        "known secret",
    ]
    assert found[0].startswith(f"{log}:1")


def test_sweep_passes_redacted_lines_and_other_files(outside: Path) -> None:
    """Redacted values and files that are not logs are not reported."""
    (outside / "websocket.log.1").write_text(
        "Bearer [redacted] ?token=[redacted] password=[redacted] [redacted-jwt]\n"
        'close reason="token expired" user=alice\n'
    )
    (outside / "tokens.json").write_text(JWT)
    assert find_secrets(log_files([outside]), []) == []
