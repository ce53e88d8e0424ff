"""The one module that reaches into daphne's, autobahn's and Twisted's private
names (pinned exactly in pyproject.toml). Each name in PRIVATE_NAMES has a
canary test in tests/realtime/daphne/test_internals.py, so an upgrade that
renames one fails a test named after it instead of slowing every connection
down or closing it with 1011."""

from __future__ import annotations

import asyncio
import importlib
from collections import deque
from collections.abc import Callable
from typing import Any

import daphne.server

# autobahn's builders of debug-line text (debug_text_only_for_debug).
DEBUG_TEXT: tuple[tuple[str, str], ...] = (
    ("autobahn.websocket.protocol", "pformat"),
    ("autobahn.websocket.protocol", "hltype"),
    ("autobahn.websocket.protocol", "hlval"),
    ("autobahn.twisted.websocket", "hltype"),
    ("autobahn.twisted.websocket", "hlval"),
)
# (where, name): the attributes read or written below, and the methods of
# daphne's classes the package overrides.
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    ("daphne.server", "twisted_loop"),
    ("daphne.server.Server", "connections"),
    ("daphne.server.Server", "create_application"),
    ("daphne.server.Server", "protocol_disconnected"),
    ("daphne.server.Server", "application_checker"),
    ("daphne.server.Server", "listen_success"),
    ("daphne.server.Server", "listen_error"),
    ("daphne.server.Server", "handle_reply"),
    ("daphne.server.Server", "ws_factory"),
    ("daphne.server.Server", "http_factory"),
    ("daphne.ws_protocol.WebSocketProtocol", "application_queue"),
    ("daphne.ws_protocol.WebSocketProtocol", "clean_headers"),
    ("daphne.ws_protocol.WebSocketProtocol", "handle_reply"),
    ("daphne.ws_protocol.WebSocketProtocol", "serverClose"),
    ("daphne.ws_protocol.WebSocketProtocol", "serverReject"),
    ("autobahn.websocket.protocol.WebSocketProtocol", "send_queue"),
    ("autobahn.websocket.protocol.WebSocketProtocol", "_perMessageCompress"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_request_data"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_headers"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_request_params"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_status_line"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_request_uri"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "http_response_data"),
    ("autobahn.websocket.protocol.WebSocketProtocol", "sendCloseFrame"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "sendHttpErrorResponse"),
    ("autobahn.websocket.protocol.WebSocketServerProtocol", "CONFIG_ATTRS"),
    *DEBUG_TEXT,
    ("twisted.internet.abstract.FileDescriptor", "_tempDataBuffer"),
    ("twisted.internet.abstract.FileDescriptor", "dataBuffer"),
    ("twisted.internet.abstract.FileDescriptor", "offset"),
    ("twisted.internet.abstract.FileDescriptor", "_tempDataLen"),
    ("twisted.internet.tcp.Connection", "socket"),
    ("twisted.internet.tcp.Connection", "TLS"),
    ("twisted.web.http.HTTPFactory", "timeOut"),
    ("twisted.web.http.Request", "chunked"),
    ("twisted.web.http.Request", "startedWriting"),
    ("twisted.web.http._GenericHTTPChannelProtocol", "_channel"),
)


def event_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop daphne's Twisted reactor runs on."""
    loop: asyncio.AbstractEventLoop = daphne.server.twisted_loop
    return loop


def connections(server: Any) -> dict[Any, dict[str, Any]]:
    """daphne's table of protocols: {"connected", "disconnected", "application_instance"}."""
    table: dict[Any, dict[str, Any]] = server.connections
    return table


def set_connections(server: Any, table: dict[Any, dict[str, Any]]) -> None:
    server.connections = table


def inbound_depth(protocol: Any) -> int:
    """Frames waiting for the application: 0 before it has a queue."""
    queue = getattr(protocol, "application_queue", None)
    return int(queue.qsize()) if queue is not None else 0


def compresses(protocol: Any) -> bool:
    """Whether permessage-deflate was negotiated: ready frames cannot be used then."""
    return protocol._perMessageCompress is not None


def release_handshake(protocol: Any) -> None:
    """Drop what autobahn kept of the handshake (the raw request, its status
    line and URI, both carrying the token, its parsed headers and query, and
    the response it sent) and the header list daphne gave the ASGI scope,
    which only the checks before accept read. The query is emptied in place:
    the request daphne keeps for its log lines holds the same dict."""
    protocol.http_request_data = b""
    protocol.http_status_line = ""
    protocol.http_request_uri = ""
    protocol.http_response_data = ""
    protocol.http_headers.clear()
    protocol.http_request_params.clear()
    protocol.clean_headers.clear()


def drop_send_queue(protocol: Any) -> None:
    """autobahn keeps a queue for chopped and synchronised writes, which this
    package never asks for: an empty deque is 760 bytes on every connection.
    An empty tuple reads as empty wherever autobahn looks on a plain write;
    `restore_send_queue` puts a real queue back before any other write."""
    protocol.send_queue = ()


def restore_send_queue(protocol: Any) -> None:
    if not isinstance(protocol.send_queue, deque):
        protocol.send_queue = deque(protocol.send_queue)


def write_at_once(protocol: Any, data: bytes) -> int | None:
    """A WebSocket's `send_at_once`, when autobahn holds nothing back either."""
    if protocol.send_queue:
        return None
    return send_at_once(protocol.transport, data)


def send_at_once(transport: Any, data: bytes) -> int | None:
    """Write `data` straight to the socket when no byte waits in Twisted's
    buffers (so the byte order holds); how many bytes it took, or None when it
    must go through Twisted (bytes queued, TLS, closing, or a transport
    without these buffers). An OSError (would block, peer gone) reads as 0:
    Twisted's own write finds out and reports it its way. Twisted's own write
    registers the socket for writing and unregisters it once written, twice
    the selector work for a frame the socket would have taken at once."""
    queued = getattr(transport, "_tempDataBuffer", None)
    if queued is None or queued or transport.dataBuffer:
        return None
    if getattr(transport, "TLS", False) or transport.disconnecting:
        return None
    try:
        sent: int = transport.socket.send(data)
    except OSError:
        return 0
    return sent


def chunked_body(request: Any) -> bool:
    """Whether the response head is out and the body goes as HTTP/1.1 chunks."""
    return bool(request.startedWriting and request.chunked)


def buffered_bytes(transport: Any) -> int:
    """Bytes Twisted holds for `transport` that the socket has not taken yet."""
    if getattr(transport, "_tempDataLen", None) is None:
        return 0
    buffered: int = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    return buffered


def socket_of(transport: Any) -> Any:
    """The socket under a TCP transport, or None (TLS, or not TCP)."""
    if getattr(transport, "TLS", False):
        return None
    return getattr(transport, "socket", None)


def send_close_frame(protocol: Any, code: int, reason: bytes) -> None:
    """A close frame with any code: autobahn's sendClose takes only 1000 and
    3000-4999 from an application."""
    protocol.sendCloseFrame(code=code, reasonUtf8=reason, isReply=False)


def option_names(protocol_class: Any) -> tuple[str, ...]:
    """The options autobahn copies from the factory onto every protocol."""
    return tuple(protocol_class.CONFIG_ATTRS)


def set_http_idle_timeout(server: Any, seconds: float) -> None:
    server.http_factory.timeOut = seconds


def http_channel(protocol: Any) -> Any:
    """The HTTPChannel behind the protocol Twisted's HTTPFactory builds."""
    return protocol._channel


def wrap_websocket_close(
    before_reply: Callable[[Any, dict[str, Any]], None],
    server_close: Callable[[Any, int | None], None],
) -> None:
    """daphne's own WebSocket protocol, as stock `daphne` builds it: each
    reply passes `before_reply` first (which keeps a close's reason, daphne
    drops it), and a server close goes through `server_close` (daphne's
    takes only autobahn's application codes, 1000 and 3000-4999)."""
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol, "_realtime_adapted", False):
        return
    original = WebSocketProtocol.handle_reply

    def handle_reply(self: Any, message: dict[str, Any]) -> None:
        before_reply(self, message)
        original(self, message)

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol._realtime_adapted = True


def debug_text_only_for_debug() -> None:
    """autobahn builds the text of its debug lines before it knows whether
    they are kept: a pretty-printed dump of its thirty-odd options for every
    new connection, and highlighted names and values for every read and
    write (2 to 4 % of a connect storm's CPU, docs/benchmarks.md). These are
    built only while txaio logs debug lines."""
    for where, name in DEBUG_TEXT:
        module = importlib.import_module(where)
        original = getattr(module, name)
        if not getattr(original, "only_for_debug", False):
            setattr(module, name, _only_for_debug(original))


def _only_for_debug(build: Callable[..., str]) -> Callable[..., str]:
    import txaio

    def built(*args: Any, **kwargs: Any) -> str:
        # Looked up per call: txaio binds its functions once a framework is chosen.
        if txaio.get_global_log_level() in ("debug", "trace"):  # type: ignore[attr-defined]
            return build(*args, **kwargs)
        return ""

    built.only_for_debug = True  # type: ignore[attr-defined]
    return built
