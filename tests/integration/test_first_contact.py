"""What a newcomer meets first, through the real entry points: `realtime
serve` on a busy port says why and exits non-zero, warnings reach the
console, the development-key warning comes once per start, `/ws/orders`
works without its slash, and any other WebSocket path gets a JSON 404."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime.testing.processes import HOST, Daphne, free_port, server_env, wait_until
from tests.browser import chromium

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return server_env(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", log_dir=tmp_path / "logs", extra=extra
    )


def test_serving_on_a_busy_port_exits_non_zero_with_one_clear_line(tmp_path: Path) -> None:
    """Address already in use: one line on the console naming the address, exit code 1."""
    with socket.create_server((HOST, 0)) as taken:
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "realtime.cli", "serve", "--port", str(port)],
            env=env_for(tmp_path),
            capture_output=True,
            timeout=60,
        )
    assert run.returncode == 1
    assert f"realtime serve: cannot listen on 127.0.0.1:{port}" in run.stderr.decode()
    assert "Address already in use" in run.stderr.decode()


def test_an_unreachable_redis_is_a_warning_on_the_console(tmp_path: Path) -> None:
    """With REDIS_URL pointing nowhere the server runs and says so on its console."""
    env = env_for(tmp_path)
    env["REDIS_URL"] = f"redis://{HOST}:{free_port()}/0"
    with Daphne(free_port(), env, tmp_path / "logs") as server:
        wait_until(
            lambda: (
                "WARNING" in server.output.read_text()
                and "channel layer" in server.output.read_text()
            ),
            20,
            "a channel-layer warning on the console",
        )


def test_the_development_key_warning_comes_once_per_start_and_not_per_command(
    tmp_path: Path,
) -> None:
    """Without SECRET_KEY, `realtime token` is quiet; `realtime serve` warns once."""
    env = env_for(tmp_path)
    del env["SECRET_KEY"]
    with Daphne(free_port(), env, tmp_path / "logs") as server:
        wait_until(lambda: "serving on" in server.output.read_text(), 20, "serving")
    assert server.output.read_text().count("SECRET_KEY is not set") == 1
    token = subprocess.run(
        [sys.executable, "-m", "realtime.cli", "token", "alice", "--create"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert b"SECRET_KEY" not in token.stderr + token.stdout


async def test_ws_orders_without_the_slash_is_the_same_endpoint(tmp_path: Path) -> None:
    """`/ws/orders` gets `welcome`; another WebSocket path a JSON 404 and an INFO line."""
    with Daphne(free_port(), env_for(tmp_path), tmp_path / "logs") as server:
        token = server.manage("token", "alice", "--create")
        async with connect(f"ws://{HOST}:{server.port}/ws/orders?token={token}") as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://{HOST}:{server.port}/ws/order/?token={token}")
        response = refused.value.response
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert "connect to /ws/orders/" in json.loads(response.body)["detail"]
        text = server.wait_for_log(r"INFO realtime\.ws unknown path path=/ws/order/")
        assert token not in text
        assert server.error_lines() == []


@pytest.mark.browser
def test_the_api_docs_render_in_chromium_with_every_asset(tmp_path: Path) -> None:
    """/api/docs shows the Swagger UI with the API's operations; every file it loads is 200."""
    with Daphne(free_port(), env_for(tmp_path), tmp_path / "logs") as server, chromium() as browser:
        answers: list[tuple[int, str]] = []
        page = browser.new_page()
        page.on("response", lambda response: answers.append((response.status, response.url)))
        page.goto(f"{server.http}/api/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
        operations = page.locator(".swagger-ui .opblock").count()
        assert operations >= 5
        assets = [(status, url) for status, url in answers if "/static/" in url]
        assert assets, "the page loaded no static file"
        assert [a for a in answers if a[0] != 200] == []
        static = urllib.request.urlopen(assets[0][1], timeout=5)
        assert "max-age" in static.headers.get("Cache-Control", "")


def test_an_installed_copy_keeps_its_database_in_the_working_directory(tmp_path: Path) -> None:
    """A non-editable install, run from elsewhere, creates db.sqlite3 where it runs."""
    site, workdir = tmp_path / "site", tmp_path / "work"
    workdir.mkdir()
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(root),
        ],
        capture_output=True,
        timeout=300,
        check=True,
    )
    env = {k: v for k, v in env_for(workdir).items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(site)
    where = subprocess.run(
        [sys.executable, "-c", "import realtime; print(realtime.__file__)"],
        env=env,
        cwd=workdir,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert where.stdout.decode().startswith(str(site))
    subprocess.run(
        [sys.executable, "-m", "realtime.cli", "demo"],
        env=env,
        cwd=workdir,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert (workdir / "db.sqlite3").exists()
    assert not list(site.rglob("db.sqlite3"))
