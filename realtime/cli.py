"""`realtime [--settings MODULE] serve | token | demo | prune | logs`
(docs/operations.md). Without `--settings` (or DJANGO_SETTINGS_MODULE) the
commands run the demo project, `realtime.settings`."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path

from realtime import conf

DEMO_SETTINGS = "realtime.settings"
DEMO_TOKEN_TTL = 86400


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


def _port_taken(host: str, port: int) -> str | None:
    """Why host:port cannot be listened on, found before anything starts."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return (
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another server "
            f"running there? Choose another port with --port (or PORT= for make run)"
        )
    return None


def _database_address() -> str:
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return str(database["NAME"])
    return f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 'default port'}"


def _missing_database() -> str | None:
    """A SQLite file that is not there yet, checked before Django starts (and
    writes logs/): a command other than `demo` and `serve` has nothing to read."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    name = str(database["NAME"])
    if database["ENGINE"] != "django.db.backends.sqlite3" or name == ":memory:":
        return None
    if Path(name).exists():
        return None
    return (
        f"no database at {name}: run `realtime demo` (or `realtime serve`) in "
        f"{Path(name).parent} first, or set DATABASE_URL or DATA_DIR to where it is"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    if args.fd is None:
        taken = _port_taken(args.host, args.port)
        if taken is not None:
            print(f"realtime serve: {taken}", file=sys.stderr)
            return 1
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


def ttl_problem(ttl: int | None) -> str | None:
    if ttl is None:
        return None
    longest = conf.settings.TOKEN_MAX_TTL
    if ttl < 1:
        return f"--ttl must be at least 1 second, not {ttl}"
    if ttl > longest:
        return f"--ttl {ttl} is longer than TOKEN_MAX_TTL ({longest} s), which the server enforces"
    return None


def cmd_token(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEMO_SETTINGS)
    problem = _missing_database() or ttl_problem(args.ttl)
    if problem is not None:
        print(f"realtime token: {problem}", file=sys.stderr)
        return 2
    _setup()
    from realtime.orders.accounts import Refusal, token_for

    try:
        token, created = token_for(
            args.username,
            staff=args.staff,
            create=args.create,
            promote=args.promote,
            ttl=args.ttl,
        )
    except Refusal as exc:
        print(f"realtime token: {exc}", file=sys.stderr)
        return 2
    if created:
        print(
            f"created {args.username}{' (staff)' if args.staff else ''} without a password: "
            f"the token signs in; for the board's sign-in form set one with "
            f"`python manage.py changepassword {args.username}` (docs/operations.md)",
            file=sys.stderr,
        )
    print(token)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEMO_SETTINGS)
    problem = ttl_problem(args.ttl)
    if problem is not None:
        print(f"realtime demo: {problem}", file=sys.stderr)
        return 2
    _setup()
    _migrate()
    from realtime.orders.accounts import DEMO_PASSWORD, seed_customers, seed_demo

    # A day, unless the server accepts nothing that long.
    ttl = args.ttl or min(DEMO_TOKEN_TTL, conf.settings.TOKEN_MAX_TTL)
    tokens = seed_demo(ttl)
    print(f"Demo users (password {DEMO_PASSWORD!r}):")
    for username, token in tokens.items():
        print(f"  {username:8} {token}")
    if args.users:
        tokens.update(seed_customers(args.users, ttl))
        print(f"{args.users} customers, customer001 to customer{args.users:03d} (tokens only)")
    if args.tokens_file:
        lines = "".join(f"{username} {token}\n" for username, token in tokens.items())
        Path(args.tokens_file).write_text(lines)
        print(f"tokens: {args.tokens_file}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEMO_SETTINGS)
    problem = _missing_database()
    if problem is not None:
        print(f"realtime prune: {problem}", file=sys.stderr)
        return 2
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
    if summary.lines and not summary.entries:
        print(
            f"realtime logs summary: {path} is not a websocket.log: none of its "
            f"{summary.lines} lines is in the log's text or JSON format",
            file=sys.stderr,
        )
        return 2
    print(render(summary, str(path)))
    return 0


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    """`realtime token` and `manage.py token` take the same arguments."""
    parser.add_argument("username")
    parser.add_argument(
        "--create",
        action="store_true",
        help="create USERNAME if there is no such user, without a password: it signs in "
        "with tokens only until one is set (python manage.py changepassword USERNAME)",
    )
    parser.add_argument(
        "--staff",
        action="store_true",
        help="the user is staff (sees and changes every order): with --create, for the new "
        "user; for an existing user it is refused unless --promote",
    )
    parser.add_argument(
        "--promote", action="store_true", help="with --staff: make an existing user staff for good"
    )
    parser.add_argument(
        "--ttl",
        type=int,
        default=None,
        help="token lifetime in seconds, 1 to TOKEN_MAX_TTL (default: TOKEN_TTL)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime", description=__doc__)
    parser.add_argument(
        "--settings",
        help="your project's Django settings module (default: DJANGO_SETTINGS_MODULE, "
        "else the demo)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve with daphne (the demo migrates first)")
    serve.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    serve.add_argument(
        "--port", type=port_number, default=8000, help="0 picks a free one (default: %(default)s)"
    )
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
    add_token_arguments(token)
    token.set_defaults(run=cmd_token)

    demo = commands.add_parser("demo", help="create demo users and orders, print tokens")
    demo.add_argument(
        "--ttl",
        type=int,
        default=None,
        help="token lifetime in seconds (default: a day, or TOKEN_MAX_TTL if shorter)",
    )
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
    logs_commands = logs.add_subparsers(dest="logs_command", metavar="COMMAND", required=True)
    summary = logs_commands.add_parser("summary", help="connections, close codes, durations")
    summary.add_argument("path", nargs="?", help="default: $LOG_DIR/websocket.log")
    summary.set_defaults(run=cmd_logs_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    from django.db import OperationalError

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
    except OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"realtime {args.command}: cannot reach the database at {_database_address()} "
            f"({reason})",
            file=sys.stderr,
        )
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
