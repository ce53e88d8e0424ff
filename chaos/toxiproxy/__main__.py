"""`python -m chaos.toxiproxy -host H -port P [-config FILE] [-seed N]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from chaos.toxiproxy.api import Api, HttpServer
from chaos.toxiproxy.errors import ApiError
from chaos.toxiproxy.proxy import Collection

logger = logging.getLogger("chaos.toxiproxy")


async def serve(host: str, port: int, config: str | None, seed: int | None) -> None:
    collection = Collection(seed)
    api = Api(collection)
    if config:
        try:
            body = await asyncio.to_thread(Path(config).read_bytes)
            proxies, failure = await collection.populate(body)
        except (OSError, ApiError) as exc:
            logger.error("populating from %s failed: %s", config, exc)
        else:
            if failure is not None:
                logger.error("populating from %s failed: %s", config, failure.message)
            logger.info("populated %d proxies from %s", len(proxies), config)
    http = HttpServer(api, asyncio.get_running_loop(), host, port)
    http.start()
    logger.info("API listening on http://%s:%d", host, http.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    http.stop()
    for name in list(collection.proxies):
        await collection.remove(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.toxiproxy", description=__doc__)
    parser.add_argument("-host", "--host", default="localhost")
    parser.add_argument("-port", "--port", type=int, default=8474)
    parser.add_argument("-config", "--config", default=None, help="populate JSON file")
    parser.add_argument("-seed", "--seed", type=int, default=None, help="toxicity and jitter")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.config, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
