from __future__ import annotations

import json
from typing import Any

import pytest

from realtime.client.session import ProtocolError, Session


def frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def welcome(cursor: int = 10, max_lag: int = 8) -> str:
    return frame(
        "welcome",
        connection_id="c1",
        user="alice",
        heartbeat_interval=1.0,
        heartbeat_timeout=3.0,
        cursor=cursor,
        max_lag=max_lag,
        protocol=1,
    )


def update(seq: int, order_id: int, version: int) -> str:
    order = {"id": order_id, "version": version, "status": "pending"}
    return frame("order.update", seq=seq, order=order, published_at=1.0, meta={"k": 1})


def test_a_fresh_client_starts_from_the_welcome_cursor_and_resumes_with_since() -> None:
    """Without since, the welcome cursor is the start; the next connect asks since=last seq."""
    session = Session()
    assert session.query() == {}
    session.opened()
    session.receive(welcome(cursor=10), 0.0)
    assert session.cursor == 10
    step = session.receive(update(11, 1, 1), 5.0)
    assert [u.seq for u in step.updates] == [11]
    assert step.updates[0].received_at == 5.0
    assert step.updates[0].meta == {"k": 1}
    assert session.query() == {"since": "11"}


def test_heartbeats_are_answered_with_ts_and_the_highest_seq_held() -> None:
    """A server heartbeat gets a heartbeat_ack echoing ts with the cursor."""
    session = Session(since=4)
    session.opened()
    step = session.receive(frame("heartbeat", ts=12.5, cursor=9), 0.0)
    assert step.send == [{"type": "heartbeat_ack", "cursor": 4, "ts": 12.5}]


def test_acks_go_out_every_quarter_of_max_lag() -> None:
    """With max_lag 8 the client acks after every 2 updates."""
    session = Session(since=0)
    session.opened()
    session.receive(welcome(cursor=0, max_lag=8), 0.0)
    sent = [session.receive(update(s, s, 1), 0.0).send for s in range(1, 5)]
    assert sent == [
        [],
        [{"type": "heartbeat_ack", "cursor": 2}],
        [],
        [{"type": "heartbeat_ack", "cursor": 4}],
    ]


def test_duplicates_and_regressions_are_dropped_and_reported() -> None:
    """A repeated or older version is not handed on and counts as a G3 violation."""
    session = Session(since=0)
    session.opened()
    session.receive(welcome(cursor=0), 0.0)
    session.receive(update(1, 1, 2), 0.0)
    assert session.receive(update(1, 1, 2), 0.0).updates == []
    assert session.receive(update(2, 1, 1), 0.0).updates == []
    assert session.stats.duplicates == 1
    assert session.stats.stale == 1
    assert len(session.stats.violations) == 3


def test_a_new_connection_starts_its_checks_from_the_cursor() -> None:
    """After a reconnect, the next seq past the cursor is in order, not a violation."""
    session = Session(since=0, scopes=("all",))
    session.opened()
    session.receive(welcome(cursor=3), 0.0)
    for seq in (1, 2):
        session.receive(update(seq, seq, 1), 0.0)
    session.opened()
    session.receive(welcome(cursor=3), 0.0)
    session.receive(update(3, 3, 1), 0.0)
    assert session.cursor == 3
    assert session.stats.violations == []
    assert session.stats.connections == 2


def test_every_connect_names_the_scopes_and_the_cursor_in_the_url() -> None:
    """Extra scopes and the cursor go in the URL, so the server replays them all strictly."""
    session = Session(since=5, scopes=("mine", "all", "order:7"))
    assert session.query() == {"scopes": "all,order:7", "since": "5"}
    session.opened()
    assert session.receive(welcome(cursor=20), 0.0).send == []
    session.receive(update(6, 2, 1), 0.0)
    session.receive(update(21, 9, 1), 0.0)
    assert session.cursor == 21
    session.receive(frame("resumed", since=5, replayed=2, cursor=21), 0.0)
    session.receive(update(21, 9, 2), 0.0)
    assert session.stats.violations == ["conn c1: seq 21 after 21"]
    assert Session(scopes=("mine",)).query() == {}


def test_resync_required_moves_the_cursor_and_asks_for_a_snapshot() -> None:
    """`resync_required` jumps to the server's cursor and asks the I/O layer to refetch."""
    session = Session(since=1)
    session.opened()
    step = session.receive(frame("resync_required", reason="history_gone", cursor=50), 0.0)
    assert step.resync
    assert session.cursor == 50
    assert session.stats.resyncs == 1


@pytest.mark.parametrize(
    "text", ["not json", "[1]", '{"no": "type"}', frame("order.update", seq="x", order={})]
)
def test_malformed_server_frames_raise_protocol_error(text: str) -> None:
    """Anything that is not protocol v1 raises ProtocolError, never KeyError."""
    session = Session()
    with pytest.raises(ProtocolError):
        session.receive(text, 0.0)


def test_unknown_scopes_are_refused_up_front() -> None:
    """A typo in a scope fails at construction, not on the wire."""
    with pytest.raises(ValueError, match="unknown scopes: everything"):
        Session(scopes=("mine", "everything"))


def test_the_token_is_renewed_well_before_it_expires() -> None:
    """renew_at is at most 80 % of the time left and at least 10 s before expiry."""
    session = Session()
    assert session.renew_at(now=0.0) is None
    session.receive(frame("welcome", **{**json.loads(welcome()), "expires_at": 3600.0}), now=0.0)
    assert session.renew_at(now=0.0) == pytest.approx(2880.0)
    assert session.renew_at(now=3580.0) == pytest.approx(3590.0)
    assert session.renew_at(now=3595.0) == 3595.0
    assert session.receive(frame("authenticated", expires_at=7200.0), now=3595.0).authenticated
    assert session.expires_at == 7200.0


def test_a_hosts_own_event_type_passes_through_in_seq_order() -> None:
    """An event of another type is handed on with its payload, id and version, and moves
    the cursor like an order update."""
    session = Session(since=4)
    frame = {
        "type": "shipment.update",
        "seq": 5,
        "subject": 9,
        "version": 2,
        "payload": {"carrier": "x"},
        "published_at": 1.0,
        "meta": {},
    }
    step = session.receive(json.dumps(frame), 2.0)
    [update] = step.updates
    assert (update.type, update.order) == (
        "shipment.update",
        {"carrier": "x", "id": 9, "version": 2},
    )
    assert session.cursor == 5
    assert session.store.orders == {}
