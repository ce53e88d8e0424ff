"""Django settings, every one read from the environment (docs/operations.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import dj_database_url

DEV_SECRET_KEY = "dev-insecure-order-updates-key-change-me-0123456789"


N = TypeVar("N", int, float)


def env_number(name: str, default: N) -> N:
    """The variable parsed as the default's type; a bad value stops start-up with its name."""
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return type(default)(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a {type(default).__name__}, got {raw!r}") from exc


# `realtime serve` warns once when the development key is in use.
SECRET_KEY = os.environ.get("SECRET_KEY", "") or DEV_SECRET_KEY

DEBUG = os.environ.get("DEBUG", "") == "1"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "realtime.orders",
    "realtime.delivery",
    "axes",
]

# Password guessing (django-axes): after LOGIN_FAILURE_LIMIT failures for one
# username from one address, `POST /api/token/` answers 429 for
# LOGIN_LOCKOUT seconds, whether or not the username exists.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env_number("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT = env_number("LOGIN_LOCKOUT", 300)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

MIDDLEWARE = [
    "realtime.errors.json_errors",
    "realtime.errors.DatabaseUnavailable",
    "realtime.slashes.trailing_slash_optional",
    "django.middleware.security.SecurityMiddleware",
    "realtime.static.static_files",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "realtime.urls"
ASGI_APPLICATION = "realtime.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

# Where the default SQLite file lives: the working directory, as for `logs/`,
# never next to the installed package.
DATA_DIR = Path(os.environ.get("DATA_DIR", ".")).resolve()
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=600,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for the lock instead of failing at once under concurrent
    # PATCHes; IMMEDIATE takes the write lock at BEGIN, because a deferred
    # transaction that upgrades from reading to writing fails with "database
    # is locked" without waiting.
    # In WAL mode readers never block the writer: with the default journal,
    # a replay reading history page after page starved every commit.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
CHANNEL_LAYERS: dict[str, Any]
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": 2,
                        # Above the layer's 5 s blocking pop, so an idle receive is not a timeout.
                        "socket_timeout": 10,
                        "health_check_interval": 10,
                        "retry_on_timeout": True,
                    }
                ],
                "capacity": 5000,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 10000, "expiry": 60},
        }
    }

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
# WhiteNoise serves the apps' static files straight from where they are
# installed (no collectstatic), listed once at start.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

WEBSOCKET_HEARTBEAT_INTERVAL = env_number("WEBSOCKET_HEARTBEAT_INTERVAL", 25.0)
WEBSOCKET_HEARTBEAT_TIMEOUT = env_number("WEBSOCKET_HEARTBEAT_TIMEOUT", 60.0)
WEBSOCKET_MAX_LAG = env_number("WEBSOCKET_MAX_LAG", 1000)
WEBSOCKET_MAX_MESSAGE_BYTES = env_number("WEBSOCKET_MAX_MESSAGE_BYTES", 65536)
WEBSOCKET_RATE_LIMIT = env_number("WEBSOCKET_RATE_LIMIT", 20.0)
WEBSOCKET_MAX_CONNECTIONS = env_number("WEBSOCKET_MAX_CONNECTIONS", 20000)
WEBSOCKET_MAX_CONNECTIONS_PER_USER = env_number("WEBSOCKET_MAX_CONNECTIONS_PER_USER", 20)
# Pages of 500 events one replay may read before it answers resync_required.
WEBSOCKET_REPLAY_PAGES = env_number("WEBSOCKET_REPLAY_PAGES", 2000)
# Replay pages read at once for one user, and in the process; the rest wait.
WEBSOCKET_MAX_REPLAYS_PER_USER = env_number("WEBSOCKET_MAX_REPLAYS_PER_USER", 2)
WEBSOCKET_MAX_REPLAYS = env_number("WEBSOCKET_MAX_REPLAYS", 4)
EVENT_RETENTION = env_number("EVENT_RETENTION", 86400)
SHUTDOWN_GRACE = env_number("SHUTDOWN_GRACE", 10.0)
# Which worker of `realtime serve --workers N` this process is; its supervisor sets it.
WORKER = env_number("REALTIME_WORKER", 1)
HTTP_IDLE_TIMEOUT = env_number("HTTP_IDLE_TIMEOUT", 60.0)
# Threads that run HTTP requests' Django code, each keeping its database connection.
HTTP_THREADS = env_number("HTTP_THREADS", 16)
# A request head must arrive whole within this, however slowly its bytes come.
HTTP_HEADER_TIMEOUT = env_number("HTTP_HEADER_TIMEOUT", 10.0)
# Connections one client address may hold before their request head arrives.
HTTP_MAX_PENDING_PER_ADDRESS = env_number("HTTP_MAX_PENDING_PER_ADDRESS", 1024)
TOKEN_TTL = env_number("TOKEN_TTL", 3600)
# Orders one customer may create: a burst of ORDER_CREATE_BURST, then this many per second.
ORDER_CREATE_RATE = env_number("ORDER_CREATE_RATE", 1.0)
ORDER_CREATE_BURST = env_number("ORDER_CREATE_BURST", 20)
# No token outlives this, `realtime token --ttl` included.
TOKEN_MAX_TTL = env_number("TOKEN_MAX_TTL", 86400)
# How stale a user's active and staff flags may be, on open connections and over HTTP.
AUTH_RECHECK_INTERVAL = env_number("AUTH_RECHECK_INTERVAL", 30.0)
LOG_DIR = Path(os.environ.get("LOG_DIR", "logs"))
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ValueError(f"LOG_FORMAT must be 'text' or 'json', got {LOG_FORMAT!r}")

LOGGING_CONFIG = "realtime.observability.logging.configure"
LOGGING = {"log_dir": LOG_DIR, "format": LOG_FORMAT, "level": os.environ.get("LOG_LEVEL", "INFO")}
