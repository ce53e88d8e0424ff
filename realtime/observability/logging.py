"""Logging (docs/operations.md): `websocket.log` with one line per lifecycle event,
rotated, text or JSON; secrets redacted from every line; a repeated identical
warning is rate-limited and the next line that passes says how many were held."""

from __future__ import annotations

import json
import logging
import logging.config
import logging.handlers
import os
import re
import stat
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LIFECYCLE_LOGGER = "realtime.ws"

_SECRET_PATTERNS = [
    (re.compile(r"(?i)([?&]token=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (
        re.compile(r"(?i)([\"']?(?:password|secret|token)[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"),
        r"\1[redacted]",
    ),
]
# Every pattern above needs one of these words: a line without any (nearly
# every lifecycle line) is searched once instead of rewritten four times.
_MAY_HOLD_SECRET = re.compile(r"(?i)token|bearer|eyJ|password|secret")


def redact(text: str) -> str:
    if _MAY_HOLD_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites the record so that no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Every handler has this filter; what one redacted holds no secret for the next.
        if getattr(record, "realtime_redacted", False):
            return True
        record.realtime_redacted = True
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            clean_fields = {
                k: clean
                for k, v in fields.items()
                if isinstance(v, str) and (clean := redact(v)) is not v
            }
            if clean_fields:
                record.fields = {**fields, **clean_fields}
        return True


class RepeatFilter(logging.Filter):
    """Passes the first of identical WARNING-or-worse lines per `window` seconds."""

    def __init__(self, window: float = 60.0) -> None:
        super().__init__()
        self.window = window
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        # The key outlives the suffix another handler's filter may add.
        key: tuple[str, int, str] | None = getattr(record, "repeat_key", None)
        if key is None:
            key = (record.name, record.levelno, record.getMessage())
            record.repeat_key = key
        now = time.monotonic()
        with self._lock:
            first, suppressed = self._seen.get(key, (0.0, 0))
            if now - first < self.window:
                self._seen[key] = (first, suppressed + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 1000:
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window}
        if suppressed and not hasattr(record, "suppressed"):
            record.msg = f"{record.getMessage()} (suppressed {suppressed} repeats)"
            record.args = ()
            record.suppressed = suppressed
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class OnceFormatter(logging.Formatter):
    """Formats a record once for the file's size check, the file and the
    console, unless a filter changed what the line says in between."""

    def format(self, record: logging.LogRecord) -> str:
        said = (
            type(self),
            record.msg,
            record.args,
            record.levelname,
            getattr(record, "fields", None),
            record.exc_text,
        )
        done: tuple[tuple[object, ...], str] | None = getattr(record, "realtime_formatted", None)
        if done is not None and done[0] == said:
            return done[1]
        line = self.format_once(record)
        record.realtime_formatted = (said, line)
        return line

    def format_once(self, record: logging.LogRecord) -> str:
        raise NotImplementedError


class TextFormatter(OnceFormatter):
    def format_once(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line += "".join(f" {k}={_text_value(v)}" for k, v in fields.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


_SPACE = re.compile(r"\s")


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text) if (not text or _SPACE.search(text)) else text


class JsonFormatter(OnceFormatter):
    def format_once(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, default=str)


def log_event(
    logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object
) -> None:
    """One lifecycle line: the event name plus key=value fields. Built
    without `Logger.log`'s walk up the stack for a caller no line shows."""
    if logger.isEnabledFor(level):
        record = logger.makeRecord(
            logger.name, level, "(unknown file)", 0, event, (), None, extra={"fields": fields}
        )
        logger.handle(record)


class UnavailableAnswerFilter(logging.Filter):
    """A 503 is an answer the server chose (readiness failing, the database
    away), logged by whatever chose it, not a server error; Django would log
    it at ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503


class ClientFaultFilter(logging.Filter):
    """Django logs a refused request (a bad Host header, an oversized body) to
    `django.security.*` at ERROR with a traceback; the client caused it, so it
    is one WARNING line. A handler filter, because a logger's filters do not
    see what its children log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("django.security."):
            return True
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


class LogDirError(Exception):
    """LOG_DIR cannot be created or written."""


class ReportingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file whose failures (a full disk, a vanished directory)
    are reported on stderr once a minute with the count of lines lost,
    instead of a traceback per line. The workers of `realtime serve
    --workers N` share the file: one that finds it rotated by another
    reopens it rather than write on into the old one."""

    report_every = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost = 0
        self.reported_at = -self.report_every
        self.regular = True
        self.opened = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.baseFilename)
        except OSError:
            return None
        self.regular = stat.S_ISREG(found.st_mode)
        return found.st_dev, found.st_ino

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None and self._identity() != self.opened:
            try:
                self.stream.close()
                self.stream = self._open()
            except OSError:
                self.handleError(record)
                return
            self.opened = self._identity()
        super().emit(record)

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        # The library's own check stats the path twice more per line (only a
        # regular file rolls over); emit has just stat'ed it.
        if not self.regular or self.maxBytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        line = self.format(record)
        # Another worker may have written since: measure the file's end.
        self.stream.seek(0, os.SEEK_END)
        return self.stream.tell() + len(line) + 1 >= self.maxBytes

    def doRollover(self) -> None:
        super().doRollover()
        self.opened = self._identity()

    def handleError(self, record: logging.LogRecord) -> None:
        self.lost += 1
        now = time.monotonic()
        if now - self.reported_at < self.report_every:
            return
        error = sys.exc_info()[1]
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        try:
            sys.stderr.write(
                f"{stamp} ERROR realtime.logging writing {self.baseFilename} failed: "
                f"{type(error).__name__}: {error} ({self.lost} lines lost since the last report)\n"
            )
        except (OSError, ValueError):
            return
        self.reported_at, self.lost = now, 0


def configure(options: dict[str, Any]) -> None:
    """Django's LOGGING_CONFIG hook for the demo project; `options` is its
    settings.LOGGING. The package's loggers, and Django's, daphne's and
    django-axes' at the levels the project wants."""
    config = package_config(Path(options["log_dir"]), options.get("format"), options.get("level"))
    config["loggers"].update(
        {
            "django": {"handlers": ["websocket_file", "console"], "level": "WARNING"},
            # 4xx answers are the client's doing and already carry a JSON body.
            "django.request": {"level": "ERROR", "filters": ["unavailable"]},
            "daphne": {"handlers": ["websocket_file", "console"], "level": "WARNING"},
            # django-axes logs every failed sign-in at WARNING; the API logs the lockout.
            "axes": {"handlers": ["websocket_file", "console"], "level": "ERROR"},
        }
    )
    logging.config.dictConfig(config)


def ensure_configured() -> None:
    """The package's loggers for a host project that has not configured them:
    websocket.log under the LOG_DIR setting, as `realtime serve` writes it,
    whoever serves the application."""
    if logging.getLogger("realtime").handlers:
        return
    from realtime.conf import settings

    config = package_config(Path(settings.LOG_DIR), settings.LOG_FORMAT, settings.LOG_LEVEL)
    logging.config.dictConfig(config)


def package_config(log_dir: Path, format_name: str | None, level: str | None) -> dict[str, Any]:
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / "websocket.log").open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise LogDirError(f"LOG_DIR {log_dir} is not writable: {exc.strerror or exc}") from None
    formatter = "json" if format_name == "json" else "text"
    level = level or "INFO"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": RedactingFilter},
            # One per handler: a shared one would pass a warning to the
            # first handler and drop it from the second as a repeat.
            "file_repeats": {"()": RepeatFilter},
            "console_repeats": {"()": RepeatFilter},
            "unavailable": {"()": UnavailableAnswerFilter},
            "client_fault": {"()": ClientFaultFilter},
        },
        "formatters": {
            "text": {"()": TextFormatter},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "websocket_file": {
                "()": ReportingFileHandler,
                "filename": str(log_dir / "websocket.log"),
                "maxBytes": 20 * 1024 * 1024,
                "backupCount": 5,
                "encoding": "utf-8",
                "formatter": formatter,
                "filters": ["client_fault", "redact", "file_repeats"],
            },
            "console": {
                "class": "logging.StreamHandler",
                "formatter": formatter,
                "filters": ["client_fault", "redact", "console_repeats"],
            },
        },
        "loggers": {
            "realtime": {"handlers": ["websocket_file", "console"], "level": level},
            "realtime.http": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
