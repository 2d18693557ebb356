"""One way to reach Temporal, shared by the worker, the CLI, the API and the tests."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from motcua.settings import get_settings


def data_converter() -> DataConverter:
    # Pydantic models cross the workflow boundary as JSON. The payload codec that encrypts
    # personal data plugs in here (dataclasses.replace(..., payload_codec=...)).
    return pydantic_data_converter


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    s = get_settings()
    return await Client.connect(
        address or s.temporal_address,
        namespace=namespace or s.temporal_namespace,
        data_converter=data_converter(),
    )
