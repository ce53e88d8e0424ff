from __future__ import annotations

import json

import pytest

from realtime.core import protocol
from realtime.core.protocol import ErrorCode, FrameError, Scope


def test_subscribe_parses_each_scope_kind() -> None:
    """subscribe accepts mine, all and order:<id> and keeps the ref."""
    assert protocol.parse_client_frame('{"type":"subscribe","scope":"mine"}') == protocol.Subscribe(
        Scope("mine")
    )
    assert protocol.parse_client_frame(
        '{"type":"subscribe","scope":"order:42","ref":"r1"}'
    ) == protocol.Subscribe(Scope("order", 42), "r1")
    assert protocol.parse_client_frame('{"type":"unsubscribe","scope":"all","ref":7}') == (
        protocol.Unsubscribe(Scope("all"), 7)
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", ErrorCode.BAD_JSON),
        ("[" * 100_000, ErrorCode.BAD_JSON),
        ("[1, 2]", ErrorCode.BAD_MESSAGE),
        ('{"scope":"mine"}', ErrorCode.BAD_MESSAGE),
        ('{"type":"launch"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"subscribe","scope":"order:abc"}', ErrorCode.BAD_MESSAGE),
        ('{"type":"subscribe","scope":"order:-1"}', ErrorCode.BAD_MESSAGE),
        ('{"type":"subscribe"}', ErrorCode.BAD_MESSAGE),
        ('{"type":"resume","since":-1}', ErrorCode.BAD_MESSAGE),
        ('{"type":"resume","since":true}', ErrorCode.BAD_MESSAGE),
        ('{"type":"resume","since":1.5}', ErrorCode.BAD_MESSAGE),
        ('{"type":"resume","since":' + "9" * 30 + "}", ErrorCode.BAD_MESSAGE),
        ('{"type":"heartbeat","ts":NaN}', ErrorCode.BAD_MESSAGE),
        ('{"type":"heartbeat","ts":"now"}', ErrorCode.BAD_MESSAGE),
        ('{"type":"heartbeat_ack","cursor":"5"}', ErrorCode.BAD_MESSAGE),
        ('{"type":"heartbeat","ref":{"a":1}}', ErrorCode.BAD_MESSAGE),
    ],
)
def test_bad_frames_become_errors(text: str, code: ErrorCode) -> None:
    """Every malformed frame yields a FrameError with the documented code, never an exception."""
    result = protocol.parse_client_frame(text)
    assert isinstance(result, FrameError)
    assert result.code == code


def test_error_echoes_the_ref_when_the_frame_had_one() -> None:
    """An error for a frame with a valid ref carries that ref."""
    result = protocol.parse_client_frame('{"type":"resume","ref":"abc"}')
    assert isinstance(result, FrameError)
    assert result.ref == "abc"
    assert (
        json.loads(protocol.encode(protocol.error(result.code, result.detail, result.ref)))["ref"]
        == "abc"
    )


def test_heartbeat_ack_takes_optional_ts_and_cursor() -> None:
    """heartbeat_ack may carry ts, cursor, or both."""
    assert protocol.parse_client_frame('{"type":"heartbeat_ack","ts":1.5,"cursor":9}') == (
        protocol.HeartbeatAck(1.5, 9)
    )
    assert protocol.parse_client_frame('{"type":"heartbeat_ack"}') == protocol.HeartbeatAck(
        None, None
    )


def test_since_query_parameter() -> None:
    """?since= is absent, a non-negative integer, or an error."""
    assert protocol.parse_since(None) is None
    assert protocol.parse_since("") is None
    assert protocol.parse_since("17") == 17
    assert isinstance(protocol.parse_since("-3"), FrameError)
    assert isinstance(protocol.parse_since("1e3"), FrameError)


def test_welcome_has_every_documented_field() -> None:
    """welcome carries the documented fields (the token's expiry, the worker) and protocol 1."""
    frame = protocol.welcome(
        connection_id="c1",
        user="alice",
        heartbeat_interval=25,
        heartbeat_timeout=60,
        cursor=3,
        max_lag=1000,
        expires_at=1700000000.0,
        worker=2,
    )
    fields = {"connection_id", "user", "heartbeat_interval", "heartbeat_timeout", "cursor"}
    assert fields <= set(frame)
    assert frame["worker"] == 2
    assert frame["expires_at"] == 1700000000.0
    assert frame["protocol"] == 1
    assert frame["type"] == "welcome"


def test_order_update_encodes_compactly() -> None:
    """order.update is encoded once, compact, with seq, order, published_at and meta."""
    text = protocol.encode(
        protocol.event_frame("order.update", 5, 1, 2, {"id": 1}, 10.5, {"k": "é"})
    )
    assert text == (
        '{"type":"order.update","seq":5,"order":{"id":1},"published_at":10.5,"meta":{"k":"\\u00e9"}}'
    )


def test_another_type_carries_its_subject_version_and_payload() -> None:
    """A host's own event type goes out with `subject`, `version` and `payload`."""
    frame = protocol.event_frame("shipment.update", 6, 9, 3, {"carrier": "x"}, 1.0, {})
    assert frame == {
        "type": "shipment.update",
        "seq": 6,
        "subject": 9,
        "version": 3,
        "payload": {"carrier": "x"},
        "published_at": 1.0,
        "meta": {},
    }


def test_encoded_frames_are_ascii_even_with_lone_surrogates() -> None:
    """Every encoded frame is ASCII, so text that slipped past input checks cannot fail a send."""
    text = protocol.encode({"type": "order.update", "meta": {"note": "caf\u00e9 \ud800"}})
    assert text.isascii()
    assert json.loads(text)["meta"]["note"] == "caf\u00e9 \ud800"


def test_auth_frame_carries_a_token() -> None:
    """An auth frame parses to Auth; a missing, empty or oversized token is bad_message."""
    assert protocol.parse_client_frame('{"type":"auth","token":"abc","ref":1}') == protocol.Auth(
        "abc", 1
    )
    for body in ('{"type":"auth"}', '{"type":"auth","token":""}', '{"type":"auth","token":5}'):
        refused = protocol.parse_client_frame(body)
        assert isinstance(refused, protocol.FrameError)
        assert refused.code == "bad_message"
    oversized = '{"type":"auth","token":"' + "a" * (protocol.MAX_TOKEN_LENGTH + 1) + '"}'
    assert isinstance(protocol.parse_client_frame(oversized), protocol.FrameError)
