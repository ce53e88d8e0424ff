"""WebSocket framing for the send fast path (RFC 6455 §5.2), free of I/O."""

from __future__ import annotations

# The ASGI scope extension through which a server offers a synchronous sender
# of ready frames: `scope["extensions"][FRAME_SENDER]` is a callable taking a
# frame's bytes, returning False when the connection cannot take them that
# way, and raising once the socket is closing.
FRAME_SENDER = "realtime.frame_sender"


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
