"""What the API tells its operators: Prometheus metrics and JSON logs, without personal data.

- `RequestMetrics` (ASGI middleware) counts every request and times it, labelled by the
  route *template* (`/verify/{dossier_code}/{code}`, never the path as sent, which may hold
  codes), the method and the status; requests that match no route share the label
  `(unmatched)`, so a scanner cannot blow up the number of series. It also writes one log
  line per request with the same fields (no client address, no query string).
- `GET /metrics` serves them in Prometheus' text format, with the process collectors. Public
  like /healthz (counts and timings only); keep it on the internal network. Several server
  processes (`--workers`) aggregate through `PROMETHEUS_MULTIPROC_DIR` as usual.
- `JsonFormatter` and `log_config()` make every log record one JSON object; digit runs of
  nine or more (personal ids, phone numbers) and e-mail addresses in messages are masked as
  a safety net, and an exception is logged by type and frames, not by its message (which
  may quote data). `python -m motcua.api` serves the app with this configuration.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "(unmatched)"
PREFLIGHT = "(preflight)"  # a browser's CORS check, answered before routing
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})  # probes: logged at DEBUG

REQUESTS = Counter(
    "motcua_api_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "motcua_api_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
access_log = logging.getLogger("motcua.api.access")


class RequestMetrics:
    """Counts, times and logs each HTTP request by its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            # The router writes the matched route into this same scope dict.
            method = str(scope.get("method", ""))
            route = getattr(scope.get("route"), "path", None) or (
                PREFLIGHT if method == "OPTIONS" else UNMATCHED
            )
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(elapsed)
            access_log.log(
                logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
                "request",
                extra={"method": method, "route": route, "status": status,
                       "duration_ms": round(elapsed * 1000, 1)},
            )  # fmt: skip


router = APIRouter(tags=["public"])


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics() -> Response:
    """Prometheus metrics of this API process (public: counts and timings, no personal data)."""
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


# ---------------------------------------------------------------- JSON logs

_LONG_DIGITS = re.compile(r"\d{9,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# LogRecord's own attributes, and uvicorn's copy of its message with terminal colours.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


def scrub(text: str) -> str:
    """`text` with personal ids, phone numbers and e-mail addresses masked."""
    return _EMAIL.sub("[email]", _LONG_DIGITS.sub("[number]", text))


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = _plain(value)
        if record.exc_info and record.exc_info[0] is not None:
            kind, _value, tb = record.exc_info
            # The message of an exception may quote data: its type and where it was raised
            # are enough to find the bug.
            entry["error"] = kind.__name__
            entry["frames"] = [
                f"{frame.filename}:{frame.lineno} {frame.name}"
                for frame in traceback.extract_tb(tb)
            ]
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the API process (uvicorn's loggers included)."""
    level = (level or os.environ.get("MOTCUA_LOG_LEVEL") or "INFO").upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            # uvicorn's access log names client addresses and raw paths: RequestMetrics
            # logs each request by its route template instead.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }
