"""Framing for the consumer's fast path (realtime/ws/wire.py)."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from realtime.ws.wire import text_frame


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_text_frames_of_every_length_class_parse_back(size: int) -> None:
    """Short, 16-bit and 64-bit lengths each give one final text frame with the payload intact."""
    payload = (b'{"type":"x"}' * (size // 12 + 1))[:size]
    frame = parse(text_frame(payload))
    assert (frame.opcode, frame.fin, bytes(frame.data)) == (Opcode.TEXT, True, payload)
