"""The supervisor of `realtime serve --workers N` (`realtime/supervisor.py`),
with small Python programs standing in for daphne workers."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from realtime.supervisor import Backoff, Supervisor, describe, listen

pytestmark = pytest.mark.timeout(60)

# Exits 0 on SIGTERM, as a worker does once drained; notes the socket it inherited and its port.
POLITE = (
    "import signal, socket, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "sock = socket.socket(fileno=int(sys.argv[1]))\n"
    "open(sys.argv[2], 'a').write(f'{sys.argv[1]}:{sock.getsockname()[1]}\\n')\n"
    "time.sleep(60)\n"
)
# Ignores SIGTERM, and says so in its notes once it does.
STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open(sys.argv[2], 'a').write('ignoring\\n')\n"
    "time.sleep(60)\n"
)


def program(
    source: str, socks: list[socket.socket], notes: Path | None = None
) -> Callable[[int], list[str]]:
    return lambda n: [sys.executable, "-c", source, str(socks[n - 1].fileno()), str(notes)]


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_backoff_doubles_to_its_cap_and_starts_afresh_after_a_stable_run() -> None:
    """0.5, 1, 2, 4, 8, 10, 10 s; a worker that ran 30 s is back to 0.5 s."""
    backoff = Backoff()
    assert [backoff.delay(lived=1) for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert backoff.delay(lived=30) == 0.5


def test_listen_refuses_a_taken_address() -> None:
    """A port in use is an OSError that says so."""
    with (
        socket.create_server(("127.0.0.1", 0)) as taken,
        pytest.raises(OSError, match="in use"),
    ):
        listen("127.0.0.1", taken.getsockname()[1])


def test_listen_refuses_a_port_another_server_shares_by_so_reuseport() -> None:
    """Another supervisor's sockets do not let a second one join their port."""
    first = listen("127.0.0.1", 0, 2)
    try:
        with pytest.raises(OSError, match="in use"):
            listen("127.0.0.1", first[0].getsockname()[1], 2)
    finally:
        for sock in first:
            sock.close()


def test_listen_opens_one_socket_per_worker_on_one_port_and_the_kernel_spreads_connections() -> (
    None
):
    """Two sockets on one port; 200 connections land on both, none on just one."""
    socks = listen("127.0.0.1", 0, 2)
    try:
        port = socks[0].getsockname()[1]
        assert socks[1].getsockname()[1] == port
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(200)]
        accepted = [0, 0]
        for index, sock in enumerate(socks):
            sock.setblocking(False)
            for _ in range(len(clients)):
                try:
                    sock.accept()[0].close()
                except BlockingIOError:
                    break
                accepted[index] += 1
        for client in clients:
            client.close()
        assert sum(accepted) == 200
        assert min(accepted) >= 60, accepted
    finally:
        for sock in socks:
            sock.close()


def test_workers_inherit_their_sockets_are_restarted_and_drain_on_sigterm(tmp_path: Path) -> None:
    """Each gets its socket; a killed one comes back after its backoff; SIGTERM: 0, all gone."""
    socks = listen("127.0.0.1", 0, 2)
    notes = tmp_path / "ports"
    supervisor = Supervisor(
        socks, program(POLITE, socks, notes), grace=5, backoff=lambda: Backoff(base=0.05)
    )
    port = socks[0].getsockname()[1]
    one, two = (f"{sock.fileno()}:{port}" for sock in socks)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(supervisor.supervise()))
    runner.start()
    try:
        wait_for(lambda: notes.exists() and len(notes.read_text().split()) == 2, 10)
        first = supervisor.workers[0].process
        assert first is not None
        first.kill()
        wait_for(lambda: supervisor.workers[0].process is not first, 5)
        wait_for(lambda: notes.exists() and len(notes.read_text().split()) == 3, 10)
    finally:
        supervisor._stop(signal.SIGTERM)
        runner.join(10)
    assert sorted(notes.read_text().split()) == sorted([one, one, two])
    assert result == [0]
    assert supervisor.live() == []
    assert [sock.fileno() for sock in socks] == [-1, -1]
    assert not Path(supervisor.metrics_dir).exists()


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    """The drain waits out the grace, kills what is left, and reports failure."""
    socks = listen("127.0.0.1", 0)
    notes = tmp_path / "notes"
    supervisor = Supervisor(socks, program(STUBBORN, socks, notes), grace=0.5)
    supervisor.start(supervisor.workers[0])
    wait_for(lambda: notes.exists() and notes.read_text() == "ignoring\n", 10)
    supervisor.stopping = signal.SIGTERM
    started = time.monotonic()
    assert supervisor.drain() == 1
    assert time.monotonic() - started < 2
    assert supervisor.live() == []


def test_a_worker_that_cannot_start_stops_the_supervisor() -> None:
    """Five exits within seconds of starting, in a row: give up with 1 rather than spin."""
    failing = Supervisor(
        listen("127.0.0.1", 0),
        lambda n: [sys.executable, "-c", "raise SystemExit(3)"],
        grace=1,
        backoff=lambda: Backoff(base=0.01),
    )
    assert failing.run() == 1
    assert failing.workers[0].early_exits == 5


def test_an_exit_status_is_described_by_code_or_signal_name() -> None:
    """0 and 3 are codes; -9 is SIGKILL; a signal number with no name stays a number."""
    assert [describe(0), describe(3), describe(-9), describe(-77)] == [
        "code 0",
        "code 3",
        "signal SIGKILL",
        "signal 77",
    ]
