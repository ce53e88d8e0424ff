from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime.observability import logging as realtime_logging
from realtime.observability.logging import (
    JsonFormatter,
    LogDirError,
    RedactingFilter,
    RepeatFilter,
    ReportingFileHandler,
    TextFormatter,
    UnavailableAnswerFilter,
    configure,
    log_event,
    redact,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def record(msg: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("realtime.ws", level, __file__, 1, msg, (), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_redacts_tokens_passwords_and_jwts() -> None:
    """Query tokens, bearer tokens, bare JWTs and passwords never survive redaction."""
    line = redact(
        f"GET /ws/orders/?since=3&token={JWT} Authorization: Bearer abc.def "
        'body {"password": "hunter2"} password=hunter3'
    )
    for secret in (JWT, "abc.def", "hunter2", "hunter3"):
        assert secret not in line
    assert "since=3" in line


WORDS = st.sampled_from(
    ["token=", "TOKEN", "Bearer ", "bearer\t", "eyJ", "EYJ", "password", "Secret", ":", "=", '"']
)
SECRETISH = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)
JWTISH = st.from_regex(r"eyJ[\w-]{5,8}\.[\w-]{1,5}\.[\w-]{0,5}", fullmatch=True)
PIECES = st.one_of(WORDS, st.text(max_size=12), SECRETISH, JWTISH)


@given(st.lists(PIECES, max_size=8).map("".join))
def test_the_quick_check_skips_no_line_a_pattern_would_change(text: str) -> None:
    """redact gives what every pattern applied in turn gives, for any line."""
    expected = text
    for pattern, replacement in realtime_logging._SECRET_PATTERNS:
        expected = pattern.sub(replacement, expected)
    assert redact(text) == expected


def test_a_lifecycle_line_is_one_record_with_its_fields_and_none_below_the_level() -> None:
    """log_event hands the logger's handlers one record; below the logger's level, none."""
    seen: list[logging.LogRecord] = []
    logger = logging.getLogger("realtime.test_log_event")
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, "accept", conn="c1", cursor=3)
        log_event(logger, "tick", logging.DEBUG, conn="c1")
    finally:
        logger.removeHandler(handler)
    assert [(r.getMessage(), r.levelno, r.name) for r in seen] == [
        ("accept", logging.INFO, "realtime.test_log_event")
    ]
    assert seen[0].fields == {"conn": "c1", "cursor": 3}  # type: ignore[attr-defined]


def test_filter_redacts_fields_and_tracebacks() -> None:
    """The filter cleans the message, structured fields and the traceback text."""
    rec = record("connect %s", fields={"peer": f"x?token={JWT}"})
    rec.args = (JWT,)
    try:
        raise ValueError(JWT)
    except ValueError:
        import sys

        rec.exc_info = sys.exc_info()
    RedactingFilter().filter(rec)
    text = TextFormatter().format(rec)
    assert JWT not in text
    assert "[redacted" in text


def test_repeated_warnings_are_suppressed_and_counted() -> None:
    """Identical warnings within the window pass once; the next pass reports the count."""
    repeats = RepeatFilter(window=0.0)
    assert repeats.filter(record("redis down", logging.WARNING))
    repeats.window = 60.0
    assert not repeats.filter(record("redis down", logging.WARNING))
    assert not repeats.filter(record("redis down", logging.WARNING))
    repeats.window = 0.0
    passed = record("redis down", logging.WARNING)
    assert repeats.filter(passed)
    assert passed.getMessage() == "redis down (suppressed 2 repeats)"
    assert all(repeats.filter(record("connect")) for _ in range(3))


def test_each_handler_sees_a_first_warning_once_and_its_repeats_counted_once() -> None:
    """The file's and the console's filters each pass a new warning; the count is added once."""
    to_file, to_console = RepeatFilter(window=60.0), RepeatFilter(window=60.0)
    first = record("address already in use", logging.WARNING)
    assert to_file.filter(first)
    assert to_console.filter(first)
    for _ in range(2):
        again = record("address already in use", logging.WARNING)
        assert not to_file.filter(again)
        assert not to_console.filter(again)
    to_file.window = to_console.window = 0.0
    later = record("address already in use", logging.WARNING)
    assert to_file.filter(later)
    assert to_console.filter(later)
    assert later.getMessage() == "address already in use (suppressed 2 repeats)"


def test_json_lines_carry_fields() -> None:
    """LOG_FORMAT=json writes one object per line with the event's fields."""
    line = JsonFormatter().format(record("close", fields={"code": 4408, "conn": "c1"}))
    entry = json.loads(line)
    assert entry["event"] == "close"
    assert entry["code"] == 4408
    assert entry["level"] == "INFO"


def test_text_lines_quote_values_with_spaces() -> None:
    """Text lines are key=value; a value with spaces is quoted."""
    line = TextFormatter().format(record("close", fields={"reason": "client closed", "code": 1000}))
    assert line.endswith('close reason="client closed" code=1000')


def test_a_503_answer_is_not_logged_as_a_server_error() -> None:
    """django.request's ERROR for a deliberate 503 is dropped; a 500 stays."""
    unavailable = UnavailableAnswerFilter()
    assert not unavailable.filter(record("Service Unavailable", logging.ERROR, status_code=503))
    assert unavailable.filter(record("Internal Server Error", logging.ERROR, status_code=500))


class FullDisk:
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        return None


def test_a_failing_log_file_is_reported_once_a_minute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk costs one stderr line a minute with the lines lost, not a traceback per line."""
    handler = ReportingFileHandler(str(tmp_path / "websocket.log"), encoding="utf-8")
    handler.stream = FullDisk()  # type: ignore[assignment]
    for _ in range(500):
        handler.emit(record("close", logging.INFO))
    first = capsys.readouterr().err.splitlines()
    assert len(first) == 1
    assert "No space left on device (1 lines lost since the last report)" in first[0]
    handler.reported_at -= ReportingFileHandler.report_every
    handler.emit(record("close", logging.INFO))
    assert "(500 lines lost since the last report)" in capsys.readouterr().err
    handler.stream = None  # type: ignore[assignment]


def test_an_unwritable_log_dir_is_one_error_naming_it(tmp_path: Path) -> None:
    """LOG_DIR under a file cannot be made: LogDirError names LOG_DIR and the reason."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LogDirError, match=r"LOG_DIR .*file/logs is not writable: Not a directory"):
        configure({"log_dir": blocker / "logs"})


def test_a_file_rotated_by_another_worker_is_reopened(tmp_path: Path) -> None:
    """A worker reopens websocket.log rotated by another, rather than rotate it again."""
    path = tmp_path / "websocket.log"
    first, second = (
        ReportingFileHandler(str(path), maxBytes=200, backupCount=2, encoding="utf-8")
        for _ in range(2)
    )
    for handler in (first, second):
        handler.setFormatter(logging.Formatter("%(message)s"))
    try:
        for n in range(10):
            first.emit(record(f"first {n} " + "x" * 40))
        assert (tmp_path / "websocket.log.1").exists()
        second.emit(record("second after the rotation"))
        assert "second after the rotation" in path.read_text()
        assert "first 9" in path.read_text()
        assert "second after the rotation" not in (tmp_path / "websocket.log.1").read_text()
    finally:
        first.close()
        second.close()


class CountingFormatter(TextFormatter):
    lines = 0

    def format_once(self, record: logging.LogRecord) -> str:
        CountingFormatter.lines += 1
        return super().format_once(record)


def test_a_line_is_formatted_once_for_the_size_check_the_file_and_the_console(
    tmp_path: Path,
) -> None:
    """One format for every handler, each writing the same line."""
    path = tmp_path / "websocket.log"
    file = ReportingFileHandler(str(path), maxBytes=10_000, backupCount=1, encoding="utf-8")
    stream = io.StringIO()
    console = logging.StreamHandler(stream)
    CountingFormatter.lines = 0
    for handler in (file, console):
        handler.setFormatter(CountingFormatter())
        handler.addFilter(RedactingFilter())
    try:
        line = record(f"connect token={JWT}", fields={"conn": "c1"})
        file.handle(line)
        console.handle(line)
    finally:
        file.close()
    assert CountingFormatter.lines == 1
    assert path.read_text() == stream.getvalue()
    assert "conn=c1" in stream.getvalue()
    assert JWT not in stream.getvalue()


def test_a_line_a_filter_changed_after_it_was_formatted_is_formatted_again() -> None:
    """A repeat count added for the second handler shows in that handler's line."""
    formatter = TextFormatter()
    line = record("slow reader", logging.WARNING)
    first = formatter.format(line)
    line.msg, line.args = "slow reader (suppressed 3 repeats)", ()
    assert first.endswith("slow reader")
    assert formatter.format(line).endswith("(suppressed 3 repeats)")


def test_the_file_rolls_over_before_a_line_would_pass_its_size(tmp_path: Path) -> None:
    """No file grows past maxBytes; the older lines move to websocket.log.1."""
    path = tmp_path / "websocket.log"
    handler = ReportingFileHandler(str(path), maxBytes=300, backupCount=1, encoding="utf-8")
    handler.setFormatter(TextFormatter())
    try:
        for n in range(12):
            handler.emit(record(f"line {n} " + "x" * 40))
    finally:
        handler.close()
    rolled = tmp_path / "websocket.log.1"
    assert rolled.exists()
    assert path.stat().st_size <= 300
    assert rolled.stat().st_size <= 300
    assert "line 11 " in path.read_text()
