"""Property-based fuzzing of client frames over one live connection
(docs/protocol.md): whatever a client sends (random JSON, wrong types, huge
numbers, deep nesting, odd Unicode, binary, truncated or oversized frames) is answered with
documented frames only, an `error` with a documented code, or a documented
close; never 1011, and the log never gets an ERROR line."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.wsclient import next_frame, open_ws

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FRAME_LIMIT = 4096
VIOLATIONS_BEFORE_CLOSE = 10
SERVER_TYPES = {
    "welcome",
    "order.update",
    "heartbeat",
    "heartbeat_ack",
    "subscribed",
    "unsubscribed",
    "resumed",
    "resync_required",
    "error",
}
ERROR_CODES = {"bad_json", "bad_message", "unknown_type", "forbidden", "not_found", "too_large"}
CLIENT_TYPES = ["subscribe", "unsubscribe", "resume", "heartbeat", "heartbeat_ack"]

# Text a WebSocket client can send: any code point but lone surrogates, which
# have no UTF-8 form (tests/integration/test_raw_sockets.py sends broken UTF-8).
unicode_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | unicode_text
    | st.text(max_size=10)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(unicode_text, inner, max_size=4),
    max_leaves=10,
)
field_values = values | st.sampled_from(
    ["mine", "all", "order:1", "order:", "order:-1", "order:1.5", "order:" + "9" * 30, "ORDER:1"]
)
typed = st.fixed_dictionaries(
    {"type": st.sampled_from(CLIENT_TYPES) | unicode_text},
    optional={key: field_values for key in ("scope", "since", "ts", "cursor", "ref", "extra")},
).map(json.dumps)
texts = st.one_of(
    typed,
    values.map(json.dumps),
    typed.flatmap(lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut])),
    st.integers(1, 1900).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 700).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    unicode_text,
    st.integers(FRAME_LIMIT + 1, 4 * FRAME_LIMIT).map(lambda size: '{"type":"' + "x" * size + '"}'),
)
frames: st.SearchStrategy[str | bytes] = texts | st.binary(max_size=200)


@dataclass
class Session:
    """One connection kept across examples, reopened whenever the server closes it."""

    server: Daphne
    token: str
    runner: asyncio.Runner
    ws: ClientConnection | None = None
    violations: int = 0
    probes: int = 0
    closes: dict[int, int] = field(default_factory=dict)

    def exchange(self, frame: str | bytes) -> tuple[list[dict[str, Any]], int | None]:
        return self.runner.run(self._exchange(frame))

    async def _exchange(self, frame: str | bytes) -> tuple[list[dict[str, Any]], int | None]:
        """Send `frame` and a probe; every frame until the probe's answer, or the close code."""
        if self.ws is None:
            self.ws = await open_ws(self.server.ws, self.token)
            self.violations = 0
            await next_frame(self.ws, "welcome")
        self.probes += 1
        ref = f"probe-{self.probes}"
        answers: list[dict[str, Any]] = []
        try:
            await self.ws.send(frame)
            await self.ws.send(json.dumps({"type": "heartbeat", "ts": 0, "ref": ref}))
            deadline = time.monotonic() + 10
            while (remaining := deadline - time.monotonic()) > 0:
                answer = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
                if answer.get("ref") == ref and answer["type"] == "heartbeat_ack":
                    return answers, None
                answers.append(answer)
            raise TimeoutError(f"no answer to the probe after {frame!r:.200}")
        except ConnectionClosed as closed:
            self.ws = None
            code = closed.rcvd.code if closed.rcvd else 1006
            self.closes[code] = self.closes.get(code, 0) + 1
            return answers, code


@pytest.fixture(scope="module")
def session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    with (
        make_server(
            tmp_path_factory.mktemp("fuzz"),
            "sqlite",
            "memory",
            request,
            # Every frame is answered for what it says, not for how fast it came.
            WEBSOCKET_RATE_LIMIT="1000000",
            WEBSOCKET_HEARTBEAT_INTERVAL="25",
            WEBSOCKET_HEARTBEAT_TIMEOUT="60",
            WEBSOCKET_MAX_MESSAGE_BYTES=str(FRAME_LIMIT),
        ) as server,
        asyncio.Runner() as runner,
    ):
        fuzz = Session(server, seed_tokens(server)["alice"], runner)
        try:
            yield fuzz
        finally:
            if fuzz.ws is not None:
                runner.run(fuzz.ws.close())
    assert server.error_lines() == []


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames)
def test_every_client_frame_gets_a_documented_answer(session: Session, frame: str | bytes) -> None:
    """Any frame is answered with documented frames, error codes or closes, never 1011."""
    answers, closed_with = session.exchange(frame)
    for answer in answers:
        assert answer.get("type") in SERVER_TYPES, answer
        if answer["type"] == "error":
            assert answer["code"] in ERROR_CODES, answer
            assert isinstance(answer["detail"], str)
            session.violations += 1
    oversized = isinstance(frame, str) and len(frame.encode()) > FRAME_LIMIT
    if oversized:
        assert closed_with == 1009
    elif closed_with is not None:
        assert closed_with == 4400, (frame, answers)
        assert session.violations > VIOLATIONS_BEFORE_CLOSE
    if isinstance(frame, bytes) and closed_with is None:
        assert answers[-1]["detail"] == "binary frames are not supported"


def test_fuzzing_saw_every_kind_of_answer(session: Session) -> None:
    """The fuzz run above reached the oversize and repeated-violation closes, nothing else."""
    assert set(session.closes) == {1009, 4400}
    assert session.probes >= 400
