"""WebSocket framing for the send fast path (RFC 6455 §5.2), free of I/O."""

from __future__ import annotations

from realtime.core.frames import Encoder

# The ASGI scope extension through which a server offers a synchronous sender
# of ready frames: `scope["extensions"][FRAME_SENDER]` is a callable taking a
# frame's bytes, returning False when the connection cannot take them that
# way, and raising once the socket is closing.
FRAME_SENDER = "realtime.frame_sender"
# The extension through which a server counts a socket that waits for its
# first-frame `auth` against its address's cap on pending connections:
# calling it holds one place and returns the callable that frees it.
PENDING_HOLD = "realtime.pending_hold"


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented, uncompressed text frame, as a server sends it."""
    length = len(payload)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 1 << 16:
        header = bytes((0x81, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + length.to_bytes(8, "big")
    return header + payload


# An event's `order.update` frame, built once for every WebSocket.
event_frame = Encoder(lambda event, text: text_frame(text.encode()))


def payload(frame: bytes) -> str:
    """The text of a frame `text_frame` built: its header is 2, 4 or 10 bytes."""
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    return frame[start:].decode()
