"""The package's settings, each with its default here, so a host project sets
none of them (docs/integrate.md, docs/operations.md).

A setting is looked up in `REALTIME = {...}` in the Django settings, then as
a Django setting of the same name, then in the environment (12-factor: the
variable of the same name), and otherwise takes its default. Read them as
`realtime.conf.settings.WEBSOCKET_HEARTBEAT_INTERVAL`; `check()` parses every
value the environment gives and stops the start with one line naming the
variable that is malformed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed


@dataclass(frozen=True)
class Setting:
    default: Any
    # The environment variable, when it is not the setting's own name.
    env: str = ""
    help: str = ""


DEFAULTS: dict[str, Setting] = {
    "WEBSOCKET_HEARTBEAT_INTERVAL": Setting(25.0, help="seconds between server heartbeats"),
    "WEBSOCKET_HEARTBEAT_TIMEOUT": Setting(60.0, help="seconds of client silence before 4408"),
    "WEBSOCKET_MAX_LAG": Setting(1000, help="events a client may fall behind before 4409"),
    "WEBSOCKET_MAX_MESSAGE_BYTES": Setting(65536, help="larger client frames get 1009"),
    "WEBSOCKET_RATE_LIMIT": Setting(20.0, help="client frames per second (burst 2x) before 4429"),
    "WEBSOCKET_MAX_CONNECTIONS": Setting(20000, help="per process, both transports; then 1013"),
    "WEBSOCKET_MAX_CONNECTIONS_PER_USER": Setting(
        20, help="per user, divided among --workers; then 1013"
    ),
    "WEBSOCKET_REPLAY_PAGES": Setting(2000, help="pages of 500 events before resync_required"),
    "WEBSOCKET_MAX_REPLAYS_PER_USER": Setting(2, help="history reads at once per user"),
    "WEBSOCKET_MAX_REPLAYS": Setting(4, help="history reads at once per process"),
    "EVENT_RETENTION": Setting(86400, help="seconds of event history kept for resume"),
    "SHUTDOWN_GRACE": Setting(10.0, help="seconds to drain on SIGTERM"),
    "WORKER": Setting(1, env="REALTIME_WORKER", help="which worker of --workers N this is"),
    "WORKERS": Setting(1, env="REALTIME_WORKERS", help="N of --workers N"),
    "HTTP_IDLE_TIMEOUT": Setting(60.0, help="seconds an idle HTTP connection is kept"),
    "HTTP_THREADS": Setting(16, help="threads that run HTTP requests' Django code"),
    "HTTP_HEADER_TIMEOUT": Setting(10.0, help="seconds for a whole request head to arrive"),
    "HTTP_MAX_PENDING_PER_ADDRESS": Setting(1024, help="unfinished request heads per address"),
    "TOKEN_TTL": Setting(3600, help="seconds a token issued by the package lives"),
    "TOKEN_MAX_TTL": Setting(86400, help="the longest token lifetime issued or accepted"),
    "AUTH_RECHECK_INTERVAL": Setting(30.0, help="seconds between re-checks of open connections"),
    "SESSION_MAX_AGE": Setting(
        604800, help="seconds a sign-in lasts through every refresh of its tokens"
    ),
    "LOG_DIR": Setting("logs", help="where websocket.log is written"),
    "LOG_FORMAT": Setting("text", help="text or json"),
    "LOG_LEVEL": Setting("INFO"),
    "REALTIME_AUTHENTICATE": Setting(
        "realtime.auth.jwt", help="dotted path: the ASGI scope -> a Principal or None"
    ),
    "REALTIME_SUBJECT_VISIBLE": Setting(
        "realtime.events.visibility.subject_visible",
        help="dotted path: (subject, principal) -> may they watch order:<subject>",
    ),
    "REALTIME_API_KEY": Setting("", help="the key POST /api/publish/ asks for; unset: off"),
    "TRUSTED_PROXIES": Setting(
        "", help="comma-separated addresses or networks whose X-Forwarded-For is believed"
    ),
}


KINDS = {int: "a whole number", float: "a number"}


class BadSetting(ValueError):
    """A setting's value cannot be used; the message names it."""


def parse(name: str, raw: str, default: Any) -> Any:
    kind = type(default)
    if kind is str:
        return raw
    try:
        return kind(raw)
    except ValueError:
        raise BadSetting(f"{name} must be {KINDS.get(kind, kind.__name__)}, got {raw!r}") from None


# What the Django settings say of each setting, or NOT_SET. Asking Django
# for a name it does not have raises and catches an AttributeError: that
# was most of a setting's cost, read several times per connection.
_FROM_DJANGO: dict[str, Any] = {}
NOT_SET = object()
_UNREAD = object()


class Settings:
    def __getattr__(self, name: str) -> Any:
        setting = DEFAULTS.get(name)
        if setting is None:
            raise AttributeError(f"realtime has no setting {name}")
        found = _FROM_DJANGO.get(name, _UNREAD)
        if found is _UNREAD:
            found = _FROM_DJANGO[name] = _from_django(name)
        if found is not NOT_SET:
            return found
        raw = os.environ.get(setting.env or name, "")
        return setting.default if raw == "" else parse(name, raw, setting.default)


def _from_django(name: str) -> Any:
    overrides = getattr(django_settings, "REALTIME", None) or {}
    if name in overrides:
        return overrides[name]
    return getattr(django_settings, name, NOT_SET)


def _forget(**kwargs: Any) -> None:
    """Django's settings changed (override_settings in tests): read them again."""
    _FROM_DJANGO.clear()


setting_changed.connect(_forget, dispatch_uid="realtime.conf.forget")
settings = Settings()


def check() -> None:
    """Read every setting once: a malformed one stops the start, named."""
    from ipaddress import ip_network

    for name in DEFAULTS:
        getattr(settings, name)
    if settings.LOG_FORMAT not in ("text", "json"):
        raise BadSetting(f"LOG_FORMAT must be 'text' or 'json', got {settings.LOG_FORMAT!r}")
    for part in str(settings.TRUSTED_PROXIES).split(","):
        try:
            if part.strip():
                ip_network(part.strip(), strict=False)
        except ValueError:
            raise BadSetting(
                f"TRUSTED_PROXIES must list addresses or networks, got {part.strip()!r}"
            ) from None
