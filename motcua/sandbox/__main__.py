"""`python -m motcua.sandbox --port 8100 --seed 42 --citizens 10000`."""

from __future__ import annotations

import argparse
import logging
import socket
import time
from datetime import date
from pathlib import Path

import uvicorn

from motcua.sandbox.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m motcua.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--fd", type=int, default=None, help="serve on an inherited socket")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--citizens", type=int, default=10_000)
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    parser.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="SQLite file that keeps the writes across restarts",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    app = create_app(args.seed, args.citizens, args.today, args.journal)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("motcua.sandbox").info(
        "sandbox: %d citizens (seed %d) generated in %.2f s",
        len(app.state.sandbox.world.citizens),
        args.seed,
        time.perf_counter() - started,
    )
    if args.fd is None:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
        return
    # An inherited listening socket. Not uvicorn's own `fd=`, which opens it as AF_UNIX so
    # asyncio never sets TCP_NODELAY on the accepted connections (40 ms per answer).
    sock = socket.socket(fileno=args.fd)
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=False))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
