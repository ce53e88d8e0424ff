"""`realtime [--settings MODULE] serve | token | demo | prune | logs`
(docs/operations.md). Without `--settings` (or DJANGO_SETTINGS_MODULE) the
commands run the demo project, `realtime.settings`."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from realtime import conf

DEMO_SETTINGS = "realtime.settings"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEMO_SETTINGS)
    import django

    django.setup()


def _migrates(args: argparse.Namespace) -> bool:
    """`--migrate` or `--no-migrate` as given; else only the demo migrates at
    every start: a host project's database migrates when its team says so."""
    if args.migrate is not None:
        return bool(args.migrate)
    return os.environ.get("DJANGO_SETTINGS_MODULE") == DEMO_SETTINGS


# Any constant works: it only has to be the same for every replica.
MIGRATION_LOCK = 0x6D696772


def _migrate() -> None:
    """Migrate; replicas starting together on PostgreSQL take turns instead of racing."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        call_command("migrate", interactive=False, verbosity=0)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        call_command("migrate", interactive=False, verbosity=0)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


def loopback(host: str) -> bool:
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse_dev_key(host: str) -> bool:
    from django.conf import settings

    development = getattr(settings, "DEV_SECRET_KEY", None)
    if development != settings.SECRET_KEY or settings.DEBUG or loopback(host):
        return False
    print(
        f"realtime serve: SECRET_KEY is not set; it is required to serve on {host} "
        "(the development key is only for loopback addresses or DEBUG=1)",
        file=sys.stderr,
    )
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    if args.workers > 1 and args.fd is None:
        return _supervise(args)
    # First: it installs the reactor daphne needs.
    from realtime.daphne.server import ListenError, serve

    _setup()
    if _refuse_dev_key(args.host):
        return 2
    if args.fd is None and _migrates(args):
        # A worker's supervisor has migrated.
        _migrate()
    try:
        serve(args.host, args.port, fd=args.fd)
    except ListenError as exc:
        print(f"realtime serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _supervise(args: argparse.Namespace) -> int:
    """`--workers N`: N daphne processes, each accepting from its own socket on the port."""
    _setup()
    from django.conf import settings
    from django.db import connections

    from realtime.supervisor import Supervisor, listen, worker_command

    if _refuse_dev_key(args.host):
        return 2
    if ":" in args.host:
        # Twisted adopts an inherited socket as IPv4 only.
        print(f"realtime serve: --workers needs an IPv4 address, not {args.host}", file=sys.stderr)
        return 2
    if "redis" not in str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")).lower():
        print(
            f"realtime serve: --workers {args.workers} needs REDIS_URL or REDIS_SENTINELS "
            "(a Redis channel layer): "
            "an update published by one worker reaches the clients of the others only through "
            "Redis (docs/operations.md, Workers)",
            file=sys.stderr,
        )
        return 2
    if _migrates(args):
        _migrate()
    connections.close_all()
    try:
        socks = listen(args.host, args.port, args.workers)
    except OSError as exc:
        print(f"realtime serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    command = worker_command(args.host, args.port, [sock.fileno() for sock in socks])
    # The workers exit within the grace on their own; a little more before killing.
    return Supervisor(socks, command, conf.settings.SHUTDOWN_GRACE + 0.5).run()


def cmd_token(args: argparse.Namespace) -> int:
    _setup()
    from realtime.orders.accounts import token_for

    try:
        print(token_for(args.username, staff=args.staff, create=args.create, ttl=args.ttl))
    except LookupError as exc:
        print(f"realtime token: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    from realtime.orders.accounts import DEMO_PASSWORD, seed_customers, seed_demo

    tokens = seed_demo(args.ttl)
    print(f"Demo users (password {DEMO_PASSWORD!r}):")
    for username, token in tokens.items():
        print(f"  {username:8} {token}")
    if args.users:
        tokens.update(seed_customers(args.users, args.ttl))
        print(f"{args.users} customers, customer001 to customer{args.users:03d} (tokens only)")
    if args.tokens_file:
        lines = "".join(f"{username} {token}\n" for username, token in tokens.items())
        Path(args.tokens_file).write_text(lines)
        print(f"tokens: {args.tokens_file}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    _setup()

    from realtime.events.log import prune

    retention = conf.settings.EVENT_RETENTION if args.retention is None else args.retention
    print(f"pruned {prune(retention)} events older than {retention} s")
    return 0


def cmd_logs_summary(args: argparse.Namespace) -> int:
    from realtime.observability.summary import render, summarize

    path = Path(args.path or Path(os.environ.get("LOG_DIR", "logs")) / "websocket.log")
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            summary = summarize(lines)
    except OSError as exc:
        print(f"realtime logs summary: {exc}", file=sys.stderr)
        return 2
    print(render(summary, str(path)))
    return 0


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime", description=__doc__)
    parser.add_argument(
        "--settings",
        help="your project's Django settings module (default: DJANGO_SETTINGS_MODULE, "
        "else the demo)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve with daphne (the demo migrates first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=positive,
        default=1,
        help="daphne processes sharing the port (more than 1 needs Redis)",
    )
    serve.add_argument(
        "--migrate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run migrations before serving (default: only for the demo)",
    )
    # A worker started by the supervisor accepts from this inherited socket.
    serve.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.set_defaults(run=cmd_serve)

    token = commands.add_parser("token", help="print a token for USERNAME and nothing else")
    token.add_argument("username")
    token.add_argument("--staff", action="store_true")
    token.add_argument("--create", action="store_true")
    token.add_argument("--ttl", type=int, default=None, help="seconds")
    token.set_defaults(run=cmd_token)

    demo = commands.add_parser("demo", help="create demo users and orders, print tokens")
    demo.add_argument("--ttl", type=int, default=86400, help="token lifetime in seconds")
    demo.add_argument(
        "--users", type=int, default=0, help="also create this many customers (for load tests)"
    )
    demo.add_argument(
        "--tokens-file", default="", help="write 'username token' lines here (Locust reads them)"
    )
    demo.set_defaults(run=cmd_demo)

    prune = commands.add_parser("prune", help="delete events older than EVENT_RETENTION")
    prune.add_argument("--retention", type=int, default=None, help="seconds")
    prune.set_defaults(run=cmd_prune)

    logs = commands.add_parser("logs", help="read websocket.log")
    logs_commands = logs.add_subparsers(dest="logs_command", required=True)
    summary = logs_commands.add_parser("summary", help="connections, close codes, durations")
    summary.add_argument("path", nargs="?", help="default: $LOG_DIR/websocket.log")
    summary.set_defaults(run=cmd_logs_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    from realtime.conf import BadSetting
    from realtime.observability.logging import LogDirError

    args = build_parser().parse_args(argv)
    if args.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    try:
        code: int = args.run(args)
    except (LogDirError, BadSetting) as exc:
        print(f"realtime {args.command}: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
