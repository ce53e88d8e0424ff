"""The I/O-free connection: every delivery, flow-control, heartbeat and close
rule, driven by hand with no server and no database."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.auth.principal import Principal
from realtime.codes import CloseCode, ErrorCode
from realtime.core import connection
from realtime.core.connection import (
    Admission,
    Authenticate,
    CheckScope,
    Close,
    Config,
    Connection,
    Join,
    Leave,
    Note,
    ReadHistory,
    refusal,
)
from realtime.core.limits import Limit
from realtime.delivery.events import Event, History
from realtime.delivery.scopes import ALL, MINE, Scope

STAFF = Principal(1, "kitchen", True, expires_at=10_000.0)
ALICE = Principal(2, "alice", False, expires_at=10_000.0)


def config(**overrides: Any) -> Config:
    values: dict[str, Any] = {
        "heartbeat_interval": 10.0,
        "heartbeat_timeout": 30.0,
        "max_lag": 100,
        "max_message_bytes": 1000,
        "rate_limit": 5.0,
        "replay_page": 3,
    }
    values.update(overrides)
    return Config(**values)


def event(seq: int, order_id: int = 1, version: int | None = None, owner_id: int = 2) -> Event:
    return Event(seq, order_id, owner_id, version or seq, 0.0, {"id": order_id}, {})


def opened(
    principal: Principal = ALICE, head: int = 0, query: dict[str, str] | None = None, **cfg: Any
) -> Connection:
    conn = Connection(config(**cfg), "c1", now=0.0)
    conn.accept(principal, head, query or {}, now=0.0)
    return conn


def drain(conn: Connection) -> list[Any]:
    """Everything queued, frames decoded to dicts, events as ("event", seq)."""
    out: list[Any] = []
    for _ in range(10_000):
        item = conn.next_output()
        if item is None:
            return out
        if isinstance(item, Event):
            out.append(("event", item.seq))
        elif isinstance(item, Close):
            out.append(item)
        else:
            out.append(json.loads(item))
    raise AssertionError("the outbox never emptied")


def kinds(out: list[Any]) -> list[Any]:
    return [o["type"] if isinstance(o, dict) else o for o in out]


def only(commands: list[Any], kind: type) -> list[Any]:
    return [c for c in commands if isinstance(c, kind)]


# Connect


def test_accept_welcomes_and_joins_mine() -> None:
    """An accepted connection says welcome with the hub's cursor and joins `mine`."""
    conn = opened(head=7)
    [welcome] = drain(conn)
    assert (welcome["type"], welcome["cursor"], welcome["user"]) == ("welcome", 7, "alice")
    assert conn.take_commands() == [Join(MINE)]


@pytest.mark.parametrize(
    ("admission", "principal", "unavailable", "expected"),
    [
        (Admission(origin_allowed=False), ALICE, False, CloseCode.FORBIDDEN),
        (Admission(origin_allowed=True), None, True, CloseCode.TRY_AGAIN_LATER),
        (Admission(origin_allowed=True), None, False, CloseCode.UNAUTHORIZED),
        (Admission(origin_allowed=True, draining=True), ALICE, False, CloseCode.TRY_AGAIN_LATER),
        (
            Admission(True, over_limit=Limit("user at its limit", True)),
            ALICE,
            False,
            CloseCode.TRY_AGAIN_LATER,
        ),
        (Admission(origin_allowed=True), ALICE, False, None),
    ],
)
def test_connect_refusals_follow_the_close_code_table(
    admission: Admission, principal: Principal | None, unavailable: bool, expected: int | None
) -> None:
    """Foreign origin 4403, bad token 4401, and an outage, a drain or a limit 1013 (retry)."""
    refused = refusal(admission, principal, "invalid token", unavailable)
    assert (refused.code if refused else None) == expected


def test_a_database_outage_at_connect_is_never_a_4401() -> None:
    """The lookup failing says 'try again later', whatever the token."""
    refused = refusal(Admission(origin_allowed=True), None, "", auth_unavailable=True)
    assert refused == Close(CloseCode.TRY_AGAIN_LATER, "database unavailable, try again later")


# Live delivery (G3)


def test_live_events_go_once_in_seq_order_never_older() -> None:
    """A repeated seq or an older version of an order is not sent again."""
    conn = opened(head=0)
    drain(conn)
    for e in (event(1, 1, 1), event(2, 1, 2), event(2, 1, 2), event(3, 2, 1), event(1, 1, 1)):
        conn.event(e)
    assert drain(conn) == [("event", 1), ("event", 2), ("event", 3)]
    conn.event(event(4, 1, 1))
    assert drain(conn) == []


def test_events_at_or_below_the_welcome_cursor_are_not_sent() -> None:
    """The welcome's cursor is where live delivery starts."""
    conn = opened(head=5)
    drain(conn)
    conn.event(event(5))
    conn.event(event(6))
    assert drain(conn)[-1:] == [("event", 6)]


# Replays (G1)


def test_since_in_the_url_replays_then_merges_held_live_events_by_seq() -> None:
    """Live events arriving during the replay wait, and go after it, without repeats."""
    conn = opened(head=4, query={"since": "1"})
    drain(conn)
    [read] = only(conn.take_commands(), ReadHistory)
    assert (read.after, read.first) == (1, True)
    conn.event(event(5))
    conn.event(event(6))
    conn.history(read, History([event(2), event(3), event(4)], False, 5, 0), now=0.0)
    assert drain(conn) == [("event", 2), ("event", 3), ("event", 4)]
    [read] = only(conn.take_commands(), ReadHistory)
    assert (read.after, read.first) == (4, False)
    conn.history(read, History([event(5)], True, 5, 0), now=0.0)
    out = drain(conn)
    assert out[0] == ("event", 5)
    assert out[1] == {"type": "resumed", "since": 1, "replayed": 4, "cursor": 5}
    assert out[2:] == [("event", 6)]
    assert [n.event for n in only(conn.take_commands(), Note)] == ["resume"]


def test_url_scopes_are_checked_before_the_replay_reads_so_it_covers_them() -> None:
    """`?scopes=all&since=N` joins `all` first; the replay then reads everything."""
    conn = opened(STAFF, head=3, query={"scopes": "all,mine", "since": "0"})
    drain(conn)
    commands = conn.take_commands()
    [check] = only(commands, CheckScope)
    assert (check.scope, check.from_url) == (ALL, True)
    assert only(commands, ReadHistory) == []
    conn.event(event(4, owner_id=99))
    conn.scope_checked(check, None)
    commands = conn.take_commands()
    assert Join(ALL) in commands
    [read] = only(commands, ReadHistory)
    assert read.visibility.everything
    conn.history(read, History([event(s, owner_id=99) for s in (1, 2)], True, 3, 0), now=0.0)
    out = drain(conn)
    assert kinds(out) == [
        "subscribed",
        ("event", 1),
        ("event", 2),
        "resumed",
        ("event", 4),
    ]


def test_url_scopes_without_since_replay_from_the_welcome_cursor() -> None:
    """Events published between welcome and the scope check are not missed."""
    conn = opened(STAFF, head=3, query={"scopes": "all"})
    drain(conn)
    [check] = only(conn.take_commands(), CheckScope)
    conn.event(event(4, owner_id=99))
    conn.scope_checked(check, None)
    [read] = only(conn.take_commands(), ReadHistory)
    assert read.after == 3
    conn.history(read, History([event(4, owner_id=99)], True, 4, 0), now=0.0)
    assert kinds(drain(conn)) == ["subscribed", ("event", 4), "resumed"]


def test_subscribe_with_since_replays_that_scope_and_reports_it() -> None:
    """`subscribed` carries since, replayed and cursor after a subscribe with since."""
    conn = opened(STAFF, head=9)
    drain(conn)
    conn.take_commands()
    conn.receive(json.dumps({"type": "subscribe", "scope": "all", "since": 7, "ref": 1}), 1.0)
    [check] = only(conn.take_commands(), CheckScope)
    assert check.since == 7
    conn.scope_checked(check, None)
    [read] = only(conn.take_commands(), ReadHistory)
    conn.history(read, History([event(8), event(9)], True, 9, 0), now=1.0)
    out = drain(conn)
    assert out[:2] == [("event", 8), ("event", 9)]
    assert out[2] == {
        "type": "subscribed",
        "scope": "all",
        "since": 7,
        "replayed": 2,
        "cursor": 9,
        "ref": 1,
    }


def test_a_second_replay_while_one_runs_is_refused() -> None:
    """A resume during a replay gets `bad_message`; the first replay goes on."""
    conn = opened(head=4, query={"since": "1"})
    drain(conn)
    conn.receive('{"type":"resume","since":0}', 1.0)
    [error] = drain(conn)
    assert (error["type"], error["code"]) == ("error", "bad_message")
    assert conn.replay is not None


@pytest.mark.parametrize(
    ("since", "answer", "reason"),
    [
        (9, History([], True, 5, 0), "since_ahead"),
        (1, History([], True, 5, 3), "history_gone"),
    ],
)
def test_a_replay_that_cannot_start_asks_for_a_resync(
    since: int, answer: History, reason: str
) -> None:
    """A since past the head, or before what was pruned, ends in resync_required."""
    conn = opened(head=5, query={"since": str(since)})
    drain(conn)
    [read] = only(conn.take_commands(), ReadHistory)
    conn.event(event(6))
    conn.history(read, answer, now=0.0)
    out = drain(conn)
    assert out[0] == {"type": "resync_required", "reason": reason, "cursor": 5}
    assert out[1:] == [("event", 6)]


def test_history_pruned_under_a_running_replay_asks_for_a_resync() -> None:
    """A later page that finds the horizon past its start never skips the gap."""
    conn = opened(head=9, query={"since": "0"})
    drain(conn)
    [read] = only(conn.take_commands(), ReadHistory)
    conn.history(read, History([event(1), event(2), event(3)], False, 9, 0), now=0.0)
    drain(conn)
    [read] = only(conn.take_commands(), ReadHistory)
    conn.history(read, History([event(7), event(8), event(9)], False, 9, 6), now=0.0)
    out = drain(conn)
    assert out == [{"type": "resync_required", "reason": "history_gone", "cursor": 9}]


def test_a_replay_past_its_page_cap_ends_in_resync_required() -> None:
    """The page cap ends a replay with resync_required, never `resumed` with a jump."""
    conn = opened(head=100, query={"since": "0"}, replay_pages=2)
    drain(conn)
    for page in range(2):
        [read] = only(conn.take_commands(), ReadHistory)
        events = [event(3 * page + i) for i in (1, 2, 3)]
        conn.history(read, History(events, False, 100, 0), now=0.0)
    out = drain(conn)
    assert kinds(out)[:6] == [("event", s) for s in range(1, 7)]
    assert out[6] == {"type": "resync_required", "reason": "replay_too_long", "cursor": 100}
    assert only(conn.take_commands(), ReadHistory) == []


def test_a_failed_read_closes_1013_and_keeps_the_cursor() -> None:
    """The database away during a replay: 1013, and nothing past what was sent."""
    conn = opened(head=5, query={"since": "1"})
    drain(conn)
    [read] = only(conn.take_commands(), ReadHistory)
    conn.event(event(6))
    conn.request_failed(read, "OperationalError")
    assert drain(conn) == [
        Close(CloseCode.TRY_AGAIN_LATER, "database unavailable, try again later")
    ]


def test_a_failed_scope_check_is_an_unavailable_error_and_changes_nothing() -> None:
    """The database away during `subscribe order:N`: an `unavailable` error, no scope."""
    conn = opened(head=5)
    drain(conn)
    conn.take_commands()
    conn.receive('{"type":"subscribe","scope":"order:3","ref":"r"}', 1.0)
    [check] = only(conn.take_commands(), CheckScope)
    conn.request_failed(check, "OperationalError")
    [error] = drain(conn)
    assert (error["code"], error["ref"]) == (ErrorCode.UNAVAILABLE, "r")
    assert Scope("order", 3) not in conn.scopes
    assert not conn.closing


def test_a_failed_url_scope_check_closes_1013() -> None:
    """The URL's scopes cannot be settled while the database is away: retry later."""
    conn = opened(STAFF, head=5, query={"scopes": "all"})
    drain(conn)
    [check] = only(conn.take_commands(), CheckScope)
    conn.request_failed(check, "OperationalError")
    assert drain(conn)[-1].code == CloseCode.TRY_AGAIN_LATER


@pytest.mark.parametrize(
    ("frame", "refused", "code"),
    [
        ('{"type":"subscribe","scope":"all"}', ErrorCode.FORBIDDEN, "forbidden"),
        ('{"type":"subscribe","scope":"order:9"}', ErrorCode.NOT_FOUND, "not_found"),
    ],
)
def test_a_refused_scope_is_an_error_frame(frame: str, refused: ErrorCode, code: str) -> None:
    """A scope the hooks refuse gets forbidden or not_found, and is not joined."""
    conn = opened(head=0)
    drain(conn)
    conn.take_commands()
    conn.receive(frame, 1.0)
    [check] = only(conn.take_commands(), CheckScope)
    conn.scope_checked(check, refused)
    [error] = drain(conn)
    assert error["code"] == code
    assert conn.scopes == {MINE}


def test_unsubscribe_leaves_the_scope() -> None:
    """unsubscribe answers `unsubscribed` and leaves the hub group."""
    conn = opened(head=0)
    drain(conn)
    conn.take_commands()
    conn.receive('{"type":"unsubscribe","scope":"mine"}', 1.0)
    assert conn.take_commands() == [Leave(MINE)]
    assert drain(conn)[0]["type"] == "unsubscribed"


# Flow control


def test_a_client_past_max_lag_is_closed_4409() -> None:
    """More than max_lag unacked events: the outbox is dropped and 4409 follows."""
    conn = opened(head=0, max_lag=3)
    drain(conn)
    for seq in range(1, 6):
        conn.event(event(seq, order_id=seq))
    assert drain(conn) == [Close(CloseCode.SLOW_CONSUMER, "slow consumer")]


def test_acks_keep_a_reading_client_within_max_lag() -> None:
    """A client that acks as it goes is never closed."""
    conn = opened(head=0, max_lag=3, rate_limit=1000.0)
    drain(conn)
    for seq in range(1, 20):
        conn.event(event(seq, order_id=seq))
        drain(conn)
        conn.receive(json.dumps({"type": "heartbeat_ack", "cursor": seq}), seq / 100)
    assert not conn.closing


def test_a_replay_pauses_at_max_lag_until_an_ack() -> None:
    """A replay stops at max_lag unacked events and goes on when the client acks."""
    conn = opened(head=10, query={"since": "0"}, max_lag=2, replay_page=10)
    drain(conn)
    [read] = only(conn.take_commands(), ReadHistory)
    conn.history(read, History([event(s, order_id=s) for s in range(1, 6)], True, 10, 0), 0.0)
    assert drain(conn) == [("event", 1), ("event", 2)]
    conn.receive('{"type":"heartbeat_ack","cursor":2}', 1.0)
    assert drain(conn) == [("event", 3), ("event", 4)]


def test_a_replay_waiting_for_an_ack_too_long_is_closed_4409() -> None:
    """No ack within the heartbeat timeout during a paused replay: 4409."""
    conn = opened(head=10, query={"since": "0"}, max_lag=2, replay_page=10)
    drain(conn)
    [read] = only(conn.take_commands(), ReadHistory)
    conn.history(read, History([event(s, order_id=s) for s in range(1, 6)], True, 10, 0), 0.0)
    drain(conn)
    due = conn.tick(5.0, wall=5.0, head=10)
    assert due is not None
    assert due <= 30.0
    conn.receive('{"type":"heartbeat","ts":1}', 29.0)
    conn.tick(31.0, wall=31.0, head=10)
    assert drain(conn)[-1] == Close(CloseCode.SLOW_CONSUMER, "slow consumer")


def test_too_many_events_held_during_a_replay_is_a_slow_consumer() -> None:
    """Held live events are bounded by the backlog: past it, 4409."""
    conn = opened(head=0, query={"since": "0"}, max_lag=1)
    drain(conn)
    for seq in range(1, 70):
        conn.event(event(seq))
    assert drain(conn) == [Close(CloseCode.SLOW_CONSUMER, "slow consumer")]


# Heartbeats, tokens, limits


def test_heartbeats_carry_the_hub_cursor_and_silence_closes_4408() -> None:
    """A heartbeat every interval with the hub's head; silence past the timeout is 4408."""
    conn = opened(head=0)
    drain(conn)
    conn.take_commands()
    assert conn.tick(10.0, wall=10.0, head=42) == 20.0
    [beat] = drain(conn)
    assert (beat["type"], beat["cursor"]) == ("heartbeat", 42)
    assert conn.tick(30.0, wall=30.0, head=42) is None
    assert drain(conn) == [Close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")]
    assert [n.event for n in only(conn.take_commands(), Note)] == ["heartbeat timeout"]


def test_an_expired_token_closes_4401() -> None:
    """Once the token's exp passes, the connection closes with 4401."""
    conn = opened(head=0)
    drain(conn)
    assert conn.tick(1.0, wall=ALICE.expires_at + 1, head=0) is None
    assert drain(conn) == [Close(CloseCode.UNAUTHORIZED, "token expired")]


def test_an_auth_frame_for_the_same_user_extends_the_connection() -> None:
    """A fresh token for the same user moves the expiry: no 4401 at the old one."""
    conn = opened(head=0)
    drain(conn)
    conn.receive('{"type":"auth","token":"t2","ref":"r"}', now=1.0)
    [request] = only(conn.take_commands(), Authenticate)
    assert request == Authenticate("t2", "r")
    later = Principal(ALICE.user_id, "alice", False, expires_at=ALICE.expires_at + 3600)
    conn.authenticated(request, later, "")
    assert drain(conn) == [{"type": "authenticated", "expires_at": later.expires_at, "ref": "r"}]
    assert conn.tick(2.0, wall=ALICE.expires_at + 1, head=0) is not None
    assert drain(conn) == []


@pytest.mark.parametrize(
    ("principal", "reason"),
    [(None, "token expired"), (STAFF, "token for another user")],
)
def test_an_auth_frame_that_fails_closes_4401(principal: Principal | None, reason: str) -> None:
    """An invalid token, or one for another user, closes the connection with 4401."""
    conn = opened(head=0)
    drain(conn)
    conn.receive('{"type":"auth","token":"bad"}', now=1.0)
    [request] = only(conn.take_commands(), Authenticate)
    conn.authenticated(request, principal, "token expired")
    assert drain(conn) == [Close(CloseCode.UNAUTHORIZED, reason)]


def test_an_auth_frame_during_an_outage_is_unavailable_and_keeps_the_token() -> None:
    """A failed token check is an `unavailable` error; the connection stays open."""
    conn = opened(head=0)
    drain(conn)
    conn.receive('{"type":"auth","token":"t2","ref":7}', now=1.0)
    [request] = only(conn.take_commands(), Authenticate)
    conn.request_failed(request, "OperationalError")
    [frame] = drain(conn)
    assert (frame["code"], frame["ref"]) == ("unavailable", 7)
    assert not conn.closing


def test_a_deactivated_user_is_closed_4401() -> None:
    """A standing that is no longer active closes with 4401 "user deactivated"."""
    conn = opened(head=0)
    drain(conn)
    conn.standing(active=False, staff=False)
    assert drain(conn) == [Close(CloseCode.UNAUTHORIZED, "user deactivated")]


def test_demoted_staff_lose_all_and_keep_the_rest() -> None:
    """No longer staff: `all` is left with a forbidden error, `mine` and the connection stay."""
    conn = opened(STAFF, head=0)
    conn.receive('{"type":"subscribe","scope":"all"}', now=0.0)
    [check] = only(conn.take_commands(), CheckScope)
    conn.scope_checked(check, None)
    drain(conn)
    conn.take_commands()
    conn.standing(active=True, staff=True)
    assert drain(conn) == []
    assert ALL in conn.scopes
    conn.standing(active=True, staff=False)
    [frame] = drain(conn)
    assert frame["code"] == "forbidden"
    assert only(conn.take_commands(), Leave) == [Leave(ALL)]
    assert conn.scopes == {MINE}
    assert not conn.closing


def test_demotion_during_a_replay_drops_what_only_all_admitted() -> None:
    """Events read under `all` that the user may no longer see are not sent."""
    conn = opened(STAFF, head=0)
    conn.receive('{"type":"subscribe","scope":"all","since":0}', now=0.0)
    [check] = only(conn.take_commands(), CheckScope)
    conn.scope_checked(check, None)
    [read] = only(conn.take_commands(), ReadHistory)
    drain(conn)
    conn.standing(active=True, staff=False)
    own = event(1, order_id=1, owner_id=STAFF.user_id)
    other = event(2, order_id=2, owner_id=99)
    conn.history(read, History([own, other], True, 2, 0), now=0.0)
    out = drain(conn)
    assert ("event", 1) in out
    assert ("event", 2) not in out


def test_a_frame_over_the_limit_closes_1009() -> None:
    """A client frame over max_message_bytes (in UTF-8 bytes) closes with 1009."""
    conn = opened(head=0)
    drain(conn)
    conn.receive("é" * 600, 1.0)
    assert drain(conn)[-1].code == CloseCode.TOO_LARGE


def test_a_flooding_client_gets_rate_limited_then_4429() -> None:
    """Past the rate, each frame gets rate_limited; past the strikes, 4429."""
    conn = opened(head=0)
    drain(conn)
    for _ in range(30):
        conn.receive('{"type":"heartbeat","ts":1}', 1.0)
    out = drain(conn)
    assert sum(1 for o in out if isinstance(o, dict) and o.get("code") == "rate_limited") == 11
    assert out[-1] == Close(CloseCode.RATE_LIMITED, "rate limit exceeded")


def test_repeated_violations_close_4400_and_binary_frames_count() -> None:
    """Bad frames get errors; the eleventh closes with 4400."""
    conn = opened(head=0, rate_limit=1000.0)
    drain(conn)
    conn.receive_binary(1.0)
    for _ in range(10):
        conn.receive('{"type":"launch"}', 1.0)
    out = drain(conn)
    assert out[0]["detail"] == "binary frames are not supported"
    assert out[-1] == Close(CloseCode.PROTOCOL_VIOLATION, "repeated protocol violations")


def test_nothing_is_queued_after_a_close() -> None:
    """After a close, events, frames and ticks produce nothing."""
    conn = opened(head=0)
    drain(conn)
    conn.close(CloseCode.SERVICE_RESTART, "server restarting")
    conn.event(event(1))
    conn.receive('{"type":"heartbeat","ts":1}', 1.0)
    assert conn.tick(100.0, wall=1.0, head=1) is None
    assert drain(conn) == [Close(CloseCode.SERVICE_RESTART, "server restarting")]


# G1 and G3 under every interleaving


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=40),
    since_share=st.floats(min_value=0, max_value=1),
    head_share=st.floats(min_value=0, max_value=1),
    page=st.integers(min_value=1, max_value=7),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_replay_merged_with_live_events_delivers_every_seq_once_in_order(
    total: int, since_share: float, head_share: float, page: int, seed: int
) -> None:
    """Whatever the pages and however live events interleave with the reads,
    the client gets every event after since exactly once, in seq order."""
    rng = random.Random(seed)
    versions: dict[int, int] = {}
    log = []
    for seq in range(1, total + 1):
        order_id = rng.randint(1, 5)
        versions[order_id] = versions.get(order_id, 0) + 1
        log.append(event(seq, order_id, versions[order_id], owner_id=99))
    head = int(total * head_share)
    since = int(head * since_share)
    conn = opened(
        STAFF,
        head=head,
        query={"scopes": "all", "since": str(since)},
        replay_page=page,
        rate_limit=1e9,
    )
    committed, delivered, received = head, head, []
    # Answers are read from the log when asked and arrive some steps later,
    # as a database read does while the hub goes on delivering.
    answers: list[tuple[ReadHistory, History]] = []
    [check] = only(conn.take_commands(), CheckScope)
    conn.scope_checked(check, None)
    for _ in range(10_000):
        for read in only(conn.take_commands(), ReadHistory):
            if rng.random() < 0.5 and committed < total:
                committed += 1
            visible = [e for e in log[:committed] if e.seq > read.after]
            answers.append((read, History(visible[:page], len(visible) <= page, committed, 0)))
        if answers and rng.random() < 0.5:
            conn.history(*answers.pop(), now=0.0)
        if rng.random() < 0.3 and delivered < total:
            delivered += 1
            committed = max(committed, delivered)
            conn.event(log[delivered - 1])
        for item in drain(conn):
            if isinstance(item, tuple):
                received.append(item[1])
                conn.receive(json.dumps({"type": "heartbeat_ack", "cursor": item[1]}), 0.0)
        if conn.replay is None and delivered == total and not conn.commands and not answers:
            break
    assert received == list(range(since + 1, total + 1))


def test_only_a_connect_refused_for_want_of_a_token_waits_for_an_auth_frame() -> None:
    """4401 with no token waits; a token that failed, 4403 or 1013 do not."""
    missing = connection.Close(CloseCode.UNAUTHORIZED, "missing token")
    assert connection.awaits_auth_frame(missing, "")
    assert not connection.awaits_auth_frame(missing, "abc")
    assert not connection.awaits_auth_frame(connection.Close(CloseCode.FORBIDDEN, "origin"), "")
    assert not connection.awaits_auth_frame(connection.Close(CloseCode.TRY_AGAIN_LATER, "x"), "")
    assert not connection.awaits_auth_frame(None, "")


def test_a_first_frame_gives_its_token_or_the_close_that_refuses_it() -> None:
    """An auth frame's token; binary, oversized, other frames and bad tokens close."""
    assert connection.first_frame_token('{"type": "auth", "token": "t"}', 100) == "t"
    not_auth = connection.Close(CloseCode.UNAUTHORIZED, "the first frame must be an auth frame")
    assert connection.first_frame_token(None, 100) == not_auth
    assert connection.first_frame_token('{"type": "heartbeat"}', 100) == not_auth
    assert connection.first_frame_token("not json", 100) == not_auth
    assert connection.first_frame_token("é" * 60, 100) == connection.Close(
        CloseCode.TOO_LARGE, "frame larger than 100 bytes"
    )
    assert connection.first_frame_token('{"type": "auth", "token": 5}', 100) == connection.Close(
        CloseCode.UNAUTHORIZED, "token must be a non-empty string"
    )
