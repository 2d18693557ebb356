"""Start the sandbox registries as a real subprocess for tests.

    from tests.sandbox_server import start_sandbox, sandbox_server

    base_url, stop = start_sandbox(seed=42, citizens=2_000)   # http://127.0.0.1:<port>
    ...
    stop()

    with sandbox_server(seed=7) as base_url:                   # the same, as a context
        ...

    sandbox = sandbox_fixture(seed=42, citizens=2_000)         # a pytest fixture (module
                                                               # scope) yielding base_url
`start_sandbox` lives in the product (motcua/sandbox/process.py): see its docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from motcua.sandbox.process import ROOT, start_sandbox

__all__ = ["ROOT", "sandbox_fixture", "sandbox_server", "start_sandbox"]


@contextmanager
def sandbox_server(**kwargs: Any) -> Iterator[str]:
    """`start_sandbox` as a context manager yielding the base URL."""
    base_url, stop = start_sandbox(**kwargs)
    try:
        yield base_url
    finally:
        stop()


def sandbox_fixture(scope: str = "module", **kwargs: Any) -> Any:
    """A pytest fixture yielding a running sandbox's base URL: `sandbox = sandbox_fixture()`."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload,misc]
    def _sandbox() -> Iterator[str]:
        with sandbox_server(**kwargs) as base_url:
            yield base_url

    return _sandbox
