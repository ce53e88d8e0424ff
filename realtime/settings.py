"""Django settings, every one read from the environment (docs/operations.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import dj_database_url

from realtime import conf, redis_hosts

DEV_SECRET_KEY = "dev-insecure-order-updates-key-change-me-0123456789"


N = TypeVar("N", int, float)


def env_number(name: str, default: N) -> N:
    """The variable parsed as the default's type; a bad value stops start-up with its name."""
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return type(default)(raw)
    except ValueError:
        kind = conf.KINDS[type(default)]
        raise conf.BadSetting(f"{name} must be {kind}, got {raw!r}") from None


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
    "realtime.events",
    "realtime.orders",
    "axes",
]

# Password guessing (django-axes): after LOGIN_FAILURE_LIMIT failures for one
# username from one client address, `POST /api/token/` answers 429 for
# LOGIN_LOCKOUT seconds, whether or not the username exists; failures during
# the lockout do not extend it. A client address is the peer's, or, behind a
# proxy in TRUSTED_PROXIES, the one it forwards. After LOGIN_ADDRESS_LIMIT
# failures from one address across usernames (a password spray) that
# address is refused the same way, before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env_number("LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_LIMIT = env_number("LOGIN_ADDRESS_LIMIT", 20)
LOGIN_LOCKOUT = env_number("LOGIN_LOCKOUT", 300)
# Passwords hashed at once per process; a sign-in that waits 2 s for a turn gets 503.
SIGN_IN_CONCURRENCY = env_number("SIGN_IN_CONCURRENCY", 2)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "realtime.orders.signin.address"
# Attempts counted in the cache (bounded, or Redis), not a table that grows
# by a row per username tried.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

MIDDLEWARE = [
    "realtime.errors.json_errors",
    "realtime.errors.DatabaseUnavailable",
    "realtime.slashes.trailing_slash_optional",
    "realtime.middleware.security",
    "realtime.static.static_files",
    "realtime.middleware.common",
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

# REDIS_URL (comma-separated: shards) or REDIS_SENTINELS with
# REDIS_SENTINEL_MASTER: one configuration for every Redis client.
REDIS = redis_hosts.configured()
# Sign-in counters (django-axes', the address throttle's): shared by every
# worker through Redis when it is set, else bounded in each process.
CACHES = {"default": redis_hosts.cache(REDIS)}
SILENCED_SYSTEM_CHECKS = [
    # The API answers a lockout itself, as JSON with Retry-After; axes'
    # middleware would replace that answer with its own.
    "axes.W002",
    # Django looks for its SecurityMiddleware by name; realtime.middleware.security
    # is that middleware, with its hooks run on the event loop. Django's HSTS
    # and SSL-redirect deploy checks stay quiet with it too (docs/operations.md).
    "security.W001",
    *(
        # Without Redis there is one process (--workers needs Redis), and
        # its in-memory cache is where its counters belong.
        [] if REDIS else ["axes.W001"]
    ),
]
CHANNEL_LAYERS: dict[str, Any]
if REDIS:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": redis_hosts.layer_hosts(REDIS), "capacity": 5000, "expiry": 60},
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

# The package's own settings (WEBSOCKET_*, HTTP_*, TOKEN_*, SHUTDOWN_GRACE,
# AUTH_RECHECK_INTERVAL, LOG_DIR …) have their defaults in realtime/conf.py and
# are read from the environment there; the demo sets only its own.
# Orders one customer may create: a burst of ORDER_CREATE_BURST, then this many per second.
ORDER_CREATE_RATE = env_number("ORDER_CREATE_RATE", 1.0)
ORDER_CREATE_BURST = env_number("ORDER_CREATE_BURST", 20)
REALTIME = {
    # Who may watch `order:<id>`: the demo's orders, not only the event log.
    "REALTIME_SUBJECT_VISIBLE": "realtime.orders.visibility.order_visible_to",
}
LOGGING_CONFIG = "realtime.observability.logging.configure"
LOGGING = {
    "log_dir": Path(os.environ.get("LOG_DIR") or conf.DEFAULTS["LOG_DIR"].default),
    "format": os.environ.get("LOG_FORMAT") or conf.DEFAULTS["LOG_FORMAT"].default,
    "level": os.environ.get("LOG_LEVEL") or conf.DEFAULTS["LOG_LEVEL"].default,
}
