"""safe_send for a WebSocket (realtime/core/sending.py): ready frames through
the server's frame sender (`realtime.ws.wire.FRAME_SENDER`), ASGI
`websocket.send` otherwise, and the close through ASGI `websocket.close`,
which the server turns into a close frame."""

from __future__ import annotations

from typing import Any

from autobahn.exception import Disconnected

from realtime.core.connection import Close
from realtime.core.frames import text
from realtime.core.sending import Sender
from realtime.delivery.events import Event
from realtime.ws.wire import event_frame, text_frame


class WebSocketSender(Sender):
    # autobahn raises Disconnected for a send after a 1002 or 1007, before
    # the disconnect reaches the consumer: the peer has gone.
    peer_gone = (OSError, Disconnected)

    __slots__ = ()

    def encode(self, item: str | Event) -> bytes:
        return event_frame(item) if isinstance(item, Event) else text_frame(item.encode())

    def message(self, item: str | Event) -> dict[str, Any]:
        return {"type": "websocket.send", "text": text(item) if isinstance(item, Event) else item}

    def close_messages(self, close: Close) -> list[dict[str, Any]]:
        # autobahn refuses an IntEnum: it checks type(code) is int.
        return [{"type": "websocket.close", "code": int(close.code), "reason": close.reason}]
