"""The alert rules and the Grafana dashboard under deploy/ name only metrics
(and labels) that a running server's /metrics exports."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server
from tests.integration.wsclient import next_frame, open_ws

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROOT = Path(__file__).parents[1]
OURS = re.compile(r"\b((?:ws|channel_layer)_[a-z_]+)(\{[^}]*\})?")
LABEL = re.compile(r"([a-z_]+)\s*=~?")


def expressions() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    found = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "order-updates.json").read_text())
    found += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return found


@pytest.fixture(scope="module")
def exposition(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """/metrics of a server that has served a readiness probe and one connection."""
    with make_server(tmp_path_factory.mktemp("deploy"), "sqlite", "memory", request) as server:
        asyncio.run(one_connection(server))
        urllib.request.urlopen(f"{server.http}/health/ready", timeout=10).close()
        with urllib.request.urlopen(f"{server.http}/metrics", timeout=10) as response:
            yield response.read().decode()


async def one_connection(server: Daphne) -> None:
    token = await asyncio.to_thread(server.manage, "token", "alice", "--create")
    ws = await open_ws(server.ws, token)
    await next_frame(ws, "welcome")
    await ws.close()
    server.wait_for_log(r"close conn=\S+ user=alice")


def samples(exposition: str) -> dict[str, set[str]]:
    """Every sample or family name, with the label names seen on it."""
    found: dict[str, set[str]] = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            found.setdefault(line.split()[2], set())
        elif line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = set(LABEL.findall(rest.partition("}")[0])) if rest else set()
            found.setdefault(name.split()[0], set()).update(labels)
    return found


def test_the_rules_and_the_dashboard_name_something() -> None:
    """Both files parse and hold expressions over the server's metrics."""
    assert len(expressions()) >= 15
    assert all(OURS.search(expr) for expr in expressions())


def test_every_metric_and_label_named_is_exported(exposition: str) -> None:
    """Each ws_* or channel_layer_* name in an expression is on /metrics, with its labels."""
    exported = samples(exposition)
    for expr in expressions():
        for name, selector in OURS.findall(expr):
            assert name in exported, f"{name} (in {expr!r}) is not exported"
            for label in LABEL.findall(selector):
                assert label in exported[name] or label in ("instance", "job"), (name, label)
        for grouped in re.findall(r"by \(([^)]*)\)", expr):
            for label in (g.strip() for g in grouped.split(",")):
                if label not in ("le", "instance", "job"):
                    assert any(label in labels for labels in exported.values()), (expr, label)
