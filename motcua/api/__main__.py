"""`python -m motcua.api [--host H] [--port P] [--workers N]`: serve the API (what `make run`
runs), with JSON logs and without uvicorn's access log (see motcua.api.observability).

The same as `uvicorn motcua.api.app:create_app --factory`, plus the log configuration.
Defaults: MOTCUA_API_HOST (127.0.0.1) and MOTCUA_API_PORT (8000).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from motcua.api.observability import log_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m motcua.api", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("MOTCUA_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTCUA_API_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=None, help="server processes")
    args = parser.parse_args(argv)
    uvicorn.run(
        "motcua.api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(),
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
