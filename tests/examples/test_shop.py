"""The package in a host project of its own (examples/shop), installed from
its wheel into a fresh virtual environment and served by stock daphne, on
Django 4.2 LTS and the current Django: a save pushes an update over a
WebSocket and a stream, a resume replays exactly what was missed, a
rolled-back transaction sends nothing, and no label, table or reverse
accessor clashes with the host's own `orders` app (docs/integrate.md)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from realtime.client.streaming import EventStream
from realtime.testing.processes import HOST, free_port, port_open, stop_process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "shop"
APPLICATION = "shop.asgi:application"
DEMO_ONLY = ("django-ninja", "django-axes", "whitenoise", "psycopg", "dj-database-url")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout's package, built from a clean copy of what
    the build reads (a stale build/ directory would leak into it)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    unwanted = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "realtime", source / "realtime", ignore=unwanted)
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*build, "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("*.whl")
    return built


def test_the_wheel_holds_the_package_only_and_asks_for_the_library_only(wheel: Path) -> None:
    """No `chaos` or `loadtests` at the top level; the demo's dependencies are an extra."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {name.split("/")[0] for name in names if not name.endswith(".dist-info/")}
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert {top for top in tops if not top.endswith(".dist-info")} == {"realtime"}
    assert "realtime/events/migrations/0001_initial.py" in names
    for package in DEMO_ONLY:
        lines = [line for line in requires if package in line.lower()]
        assert lines, package
        assert all("extra ==" in line for line in lines), lines


def environment(root: Path, wheel: Path, django: str | None) -> Path:
    """A fresh virtual environment with the wheel, the locked dependencies of
    this checkout beside it (no download), and, when asked, another Django."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "locked-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=300)
    if django is not None:
        subprocess.run([*pip, "--no-deps", f"django=={django}"], check=True, timeout=300)
    return python


class Shop:
    def __init__(self, python: Path, root: Path) -> None:
        self.python = python
        self.dir = root / "shop"
        shutil.copytree(EXAMPLE, self.dir, ignore=shutil.ignore_patterns("*.sqlite3", "logs"))
        self.database = root / "shop.sqlite3"
        self.env = {
            "PATH": "/usr/bin:/bin",
            "SHOP_DATABASE": str(self.database),
            "LOG_DIR": str(root / "logs"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.said = ""
        self.django: str | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [str(self.python), "manage.py", *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        self.said = done.stderr
        return done.stdout

    def shell(self, code: str) -> str:
        said = self.manage("shell", "-c", code).strip().splitlines()
        return said[-1] if said else ""

    def serve(self) -> None:
        """Stock daphne, as a host runs a Channels project."""
        self.server = subprocess.Popen(
            [str(self.python), "-m", "daphne", "-b", HOST, "-p", str(self.port), APPLICATION],
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "daphne.out").open("wb"),
        )
        wait_until(lambda: port_open(self.port), 30, "daphne")

    def stop(self) -> None:
        if self.server is not None:
            stop_process(self.server)


@pytest.fixture(params=["current", "4.2.27"], ids=["django-current", "django-4.2"])
def shop(
    request: pytest.FixtureRequest, wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("shop")
    django = None if request.param == "current" else request.param
    shop = Shop(environment(root, wheel, django), root)
    shop.django = django
    try:
        yield shop
    finally:
        shop.stop()


SIGN_IN = """
from django.contrib.auth import get_user_model
from django.test import Client
user = get_user_model().objects.create_user("dana", password="pw-dana-1")
client = Client()
client.force_login(user)
print(user.pk, client.cookies["sessionid"].value)
"""

NEW_ORDER = """
from django.contrib.auth import get_user_model
from orders.models import Order
print(Order.objects.create(customer=get_user_model().objects.get(username="dana"), total="9.50").pk)
"""


def advance(order_id: int, fail: bool = False) -> str:
    body = f"Order.objects.get(pk={order_id}).advance()"
    if fail:
        body = (
            "try:\n with transaction.atomic():\n"
            f"  {body}\n  raise RuntimeError('payment declined')\n"
            "except RuntimeError:\n pass"
        )
    return f"from django.db import transaction\nfrom orders.models import Order\n{body}\n"


async def next_update(ws: ClientConnection) -> dict[str, Any]:
    for _ in range(20):
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == "order.update":
            return frame
    raise AssertionError("no order.update")


async def test_push_resume_and_rollback_in_a_host_project(shop: Shop) -> None:
    """A save reaches the customer's WebSocket and stream; a resume gets exactly the missed
    versions; a rolled-back change sends nothing; no clash with the host's `orders`."""
    if shop.django is not None:
        assert shop.shell("import django; print(django.get_version())") == shop.django
    checked = shop.manage("check")
    assert "System check identified no issues" in checked
    shop.manage("migrate", "--no-input")
    with sqlite3.connect(shop.database) as db:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        tables = {row[0] for row in db.execute(query)}
    assert {"orders_order", "realtime_events_event"} <= tables
    assert not {t for t in tables if t.startswith("orders_") and t != "orders_order"}
    user_id, session = shop.shell(SIGN_IN).split()
    shop.serve()
    cookie = {"Cookie": f"sessionid={session}"}
    ws_url = f"ws://{HOST}:{shop.port}/ws/orders/"
    async with connect(ws_url, additional_headers=cookie) as ws:
        welcome = json.loads(await ws.recv())
        assert (welcome["type"], welcome["user"]) == ("welcome", "dana")
        order_id = int(await asyncio.to_thread(shop.shell, NEW_ORDER))
        first = await next_update(ws)
    assert first["order"] == {"id": order_id, "version": 1, "status": "new", "total": "9.50"}
    await asyncio.to_thread(shop.shell, advance(order_id))
    await asyncio.to_thread(shop.shell, advance(order_id))
    async with connect(f"{ws_url}?since={first['seq']}", additional_headers=cookie) as ws:
        await ws.recv()
        missed = [await next_update(ws) for _ in range(2)]
        assert [(f["order"]["version"], f["order"]["status"]) for f in missed] == [
            (2, "paid"),
            (3, "packed"),
        ]
        await asyncio.to_thread(shop.shell, advance(order_id, fail=True))
        await asyncio.to_thread(shop.shell, advance(order_id))
        after = await next_update(ws)
    assert (after["order"]["version"], after["order"]["status"]) == (4, "shipped")
    assert after["seq"] == missed[-1]["seq"] + 1
    stream = EventStream(f"http://{HOST}:{shop.port}/sse/orders/?since=0", cookie, 10)
    await stream.open()
    try:
        versions = []
        async with asyncio.timeout(10):
            async for event in stream.events():
                if event.event == "order.update":
                    versions.append(json.loads(event.data)["order"]["version"])
                if len(versions) == 4:
                    break
    finally:
        stream.abort()
    assert versions == [1, 2, 3, 4]
    assert int(user_id) > 0
