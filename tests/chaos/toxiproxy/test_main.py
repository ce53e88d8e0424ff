"""`python -m chaos.toxiproxy -config FILE` populates its proxies at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from realtime.testing.processes import HOST, free_port, port_open, stop_process, wait_until
from tests.chaos.toxiproxy.conftest import Upstream, api_up

pytestmark = pytest.mark.timeout(60)

SHARED_CONFIG = Path(__file__).parents[3] / "chaos" / "toxiproxy.json"


def test_config_file_populates_proxies_at_start(tmp_path: Path, echo_upstream: Upstream) -> None:
    """Every proxy of the config file listens as soon as the API is up."""
    listen = free_port()
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [{"name": "app", "listen": f"{HOST}:{listen}", "upstream": echo_upstream.address}]
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos.toxiproxy",
            "-host",
            HOST,
            "-port",
            str(port),
            "-config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: api_up(port), 20, "chaos.toxiproxy")
        assert port_open(listen)
    finally:
        stop_process(process)


def test_the_shared_config_is_valid_populate_json() -> None:
    """chaos/toxiproxy.json (shared with docker compose) names an app and a redis proxy."""
    entries = json.loads(SHARED_CONFIG.read_text())
    assert [e["name"] for e in entries] == ["app", "redis"]
    assert all(e["upstream"] and e["listen"] for e in entries)
