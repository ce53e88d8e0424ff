"""Live order updates for Django: a WebSocket endpoint and its Server-Sent
Events fallback, fed by `publish()` from the caller's own transaction, with
strict resume (docs/integrate.md).

    from realtime import publish, track
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.events.publishing import publish, track

__all__ = ["publish", "track"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the event log's models need Django's apps loaded,
    # and `realtime` is imported before that (settings, the command line).
    if name in __all__:
        from realtime.events import publishing

        return getattr(publishing, name)
    raise AttributeError(f"module 'realtime' has no attribute {name!r}")
