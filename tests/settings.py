"""Settings for in-process tests: the real settings read with test values."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "unit-test-secret-key-0123456789abcdef0123")
os.environ.setdefault("LOG_DIR", tempfile.mkdtemp(prefix="realtime-unit-logs-"))
os.environ["WEBSOCKET_HEARTBEAT_INTERVAL"] = "0.3"
os.environ["WEBSOCKET_HEARTBEAT_TIMEOUT"] = "1.0"
os.environ["WEBSOCKET_MAX_MESSAGE_BYTES"] = "2048"
os.environ.pop("REDIS_URL", None)
os.environ.pop("DATABASE_URL", None)

from realtime.settings import *  # noqa: F403

# Hashing a password as the server does costs a third of a second; these
# tests check who may sign in, not how hard a hash is to reverse.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
