"""`python -m realtime.client watch --url URL --token TOKEN`: print order
updates and connection state changes until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time

from realtime.client.connection import (
    TRANSPORTS,
    ClientStopped,
    OrdersClient,
    Resynced,
    StateChange,
)
from realtime.client.session import Update


def describe(item: Update | StateChange | Resynced) -> str:
    stamp = time.strftime("%H:%M:%S")
    if isinstance(item, Resynced):
        text = f"{stamp} resync_required cursor={item.cursor}: "
        if item.error is not None:
            return text + f"refetching the orders failed ({item.error})"
        if item.orders is None:
            return text + "updates before it were not replayed"
        return text + f"refetched {item.orders} orders"
    if isinstance(item, Update):
        order = item.order
        return (
            f"{stamp} order {order['id']} {order['status']} v{order['version']} "
            f"seq={item.seq} meta={json.dumps(item.meta, separators=(',', ':'))}"
        )
    text = f"{stamp} {item.state.value}"
    if item.code is not None:
        text += f" code={item.code} ({item.reason})"
    if item.retry_in is not None:
        text += f" retry_in={item.retry_in}s"
    if item.cursor is not None:
        text += f" cursor={item.cursor}"
    if item.transport is not None:
        text += f" transport={item.transport}"
    return text


async def watch(args: argparse.Namespace) -> int:
    client = OrdersClient(
        args.url,
        args.token,
        since=args.since,
        scopes=tuple(args.scope or ("mine",)),
        backoff_base=args.backoff_base,
        backoff_cap=args.backoff_cap,
        transport=args.transport,
    )
    try:
        async with client:
            async for item in client:
                print(describe(item), flush=True)
    except ClientStopped as stopped:
        print(f"stopped: {stopped}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m realtime.client")
    commands = parser.add_subparsers(dest="command", required=True)
    watch_cmd = commands.add_parser("watch", help="print updates and connection changes")
    watch_cmd.add_argument(
        "--url",
        default="ws://127.0.0.1:8000/ws/orders/",
        help="the server's WebSocket URL, or its http(s):// address (default: %(default)s)",
    )
    watch_cmd.add_argument("--token", required=True)
    watch_cmd.add_argument("--since", type=int, default=None, help="resume after this seq")
    watch_cmd.add_argument(
        "--scope", action="append", help="extra scope: all or order:<id> (repeatable)"
    )
    watch_cmd.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="websocket",
        help="sse where WebSockets are refused; auto tries a WebSocket first "
        "(default: %(default)s)",
    )
    watch_cmd.add_argument("--backoff-base", type=float, default=0.5, help="seconds")
    watch_cmd.add_argument("--backoff-cap", type=float, default=30.0, help="seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(watch(args))
    except ValueError as exc:
        print(f"python -m realtime.client: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
