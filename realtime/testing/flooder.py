"""A hostile client: it sends frames as fast as the socket takes them and
reconnects the moment it is closed, for a fixed time. It runs in its own
process so that the load it puts on the server is not also load on the
clients that measure it.

    python -m realtime.testing.flooder --url ws://127.0.0.1:8000/ws/orders/ --token T --seconds 5

prints one JSON line: frames sent, `rate_limited` errors seen, connections
made and closes by code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

FRAME = json.dumps({"type": "heartbeat", "ts": 0}).encode()
# Frames sent between looks at what the server answered.
BATCH = 50
# How long one blocked write may wait before the flood looks for a close.
WRITE_WAIT = 0.2
# Bounds on the loops besides their deadline, far above what a minute takes.
MAX_BATCHES = 10_000_000
MAX_CONNECTIONS = 1_000_000


@dataclass
class Flood:
    sent: int = 0
    rate_limited: int = 0
    connections: int = 0
    refused: int = 0
    closes: Counter[int] = field(default_factory=Counter)

    def summary(self) -> dict[str, object]:
        closes = {str(code): n for code, n in sorted(self.closes.items())}
        return {**asdict(self), "closes": closes}


class Connection:
    """websockets' sans-I/O client over a plain socket: no reader thread or
    queue of its own, so nothing but the server decides how fast this goes."""

    def __init__(self, url: str, token: str) -> None:
        uri = parse_uri(url)
        self.protocol = ClientProtocol(uri, max_size=None)
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {token}"
        self.protocol.send_request(request)
        self.sock = socket.create_connection((uri.host, uri.port), timeout=5)
        self.flush()
        for _ in range(1000):
            if self.protocol.state is not State.CONNECTING:
                break
            self.read(5)
        if self.protocol.state is not State.OPEN:
            self.sock.close()
            raise ConnectionError(f"handshake refused: {self.protocol.handshake_exc}")
        self.sock.settimeout(WRITE_WAIT)

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)
            else:
                self.sock.shutdown(socket.SHUT_WR)

    def read(self, timeout: float) -> list[str]:
        """Whatever text frames have arrived within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return []
        except OSError:
            # Reset by the server: whatever it said before is already parsed.
            data = b""
        finally:
            self.sock.settimeout(WRITE_WAIT)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        texts = [
            bytes(event.data).decode()
            for event in self.protocol.events_received()
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT
        ]
        with contextlib.suppress(OSError):
            # Replies (a close, a pong) to a server that is already gone.
            self.flush()
        return texts

    @property
    def open(self) -> bool:
        return self.protocol.state is State.OPEN

    def close(self) -> None:
        self.sock.close()


def count_answers(texts: list[str], flood: Flood) -> None:
    for text in texts:
        frame = json.loads(text)
        if frame.get("type") == "error" and frame.get("code") == "rate_limited":
            flood.rate_limited += 1


def flood_one(conn: Connection, flood: Flood, deadline: float) -> None:
    for _ in range(MAX_BATCHES):
        if not conn.open or time.monotonic() >= deadline:
            break
        for _ in range(BATCH):
            conn.protocol.send_text(FRAME)
            try:
                conn.flush()
            except TimeoutError:
                # The server stopped reading us: see whether it said why.
                break
            except OSError:
                return
            flood.sent += 1
        count_answers(conn.read(0.001), flood)
    for _ in range(100):
        if conn.protocol.state is State.CLOSED or time.monotonic() > deadline + 5:
            break
        count_answers(conn.read(0.1), flood)
    code = conn.protocol.close_code
    flood.closes[1006 if code is None else code] += 1


def run(url: str, token: str, seconds: float) -> Flood:
    flood = Flood()
    deadline = time.monotonic() + seconds
    for _ in range(MAX_CONNECTIONS):
        if time.monotonic() >= deadline:
            break
        try:
            conn = Connection(url, token)
        except (ConnectionError, OSError):
            flood.refused += 1
            time.sleep(0.01)
            continue
        flood.connections += 1
        try:
            flood_one(conn, flood, deadline)
        finally:
            conn.close()
    return flood


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime.testing.flooder", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.url, args.token, args.seconds).summary()), flush=True)


if __name__ == "__main__":
    main()
