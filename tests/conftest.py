"""Shared fixtures: real Temporal servers from the project's own wheels, no downloads.

`local_env` is Temporal's dev server (the one `make run` uses); `ts_env` is the
time-skipping test server, for timers that span working days.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

# Every test writes data (registers, documents) under a throw-away directory, never .data/.
# Under pytest-xdist each worker process gets its own (the SQLite files are not shared).
os.environ.setdefault("MOTCUA_DATA_DIR", tempfile.mkdtemp(prefix="motcua-test-"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    _own = Path(os.environ["MOTCUA_DATA_DIR"]) / os.environ["PYTEST_XDIST_WORKER"]
    _own.mkdir(parents=True, exist_ok=True)
    os.environ["MOTCUA_DATA_DIR"] = str(_own)
os.environ.setdefault("MOTCUA_CODEC_KEYS", "test:bW90Y3VhLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC0zMmI=")

from motcua.activities.calendar import get_calendar  # noqa: E402
from motcua.simulate.moments import parse_moment  # noqa: E402
from motcua.smtp_sink import running_sink  # noqa: E402
from motcua.temporal import data_converter, ensure_search_attributes  # noqa: E402
from motcua.workflows.contracts import SEARCH_ATTRIBUTES  # noqa: E402
from tests.databases import database  # noqa: E402, F401 - a fixture: SQLite and PostgreSQL

BIN = Path(sys.executable).parent
MAIL_DIR = Path(os.environ["MOTCUA_DATA_DIR"]) / "session-mail"


@pytest.fixture(scope="session", autouse=True)
def mail_sink() -> Iterator[Path]:
    """A real SMTP sink for the whole run, so notify steps deliver e-mail somewhere real.

    Set in the environment (not monkeypatched) so worker subprocesses inherit it too;
    tests that need their own sink override MOTCUA_SMTP_PORT themselves.
    """
    with running_sink(MAIL_DIR) as (host, port):
        os.environ["MOTCUA_SMTP_HOST"] = host
        os.environ["MOTCUA_SMTP_PORT"] = str(port)
        yield MAIL_DIR


@pytest_asyncio.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    moved_to = moved_clock(await env.get_current_time())
    if moved_to is not None:
        await env.sleep(moved_to - await env.get_current_time())
    yield env
    await env.shutdown()


def moved_clock(now: datetime) -> datetime | None:
    """MOTCUA_TEST_CLOCK ("next Friday 14:59" as in docs/scenarios.md, or a future date with
    its zone) moves the time-skipping servers there first: the suite as if on that day."""
    words = os.environ.get("MOTCUA_TEST_CLOCK")
    if not words:
        return None
    try:
        return datetime.fromisoformat(words)
    except ValueError:
        return parse_moment(words).resolve(now, get_calendar())
