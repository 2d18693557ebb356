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


async def ensure_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register our search attributes; servers that already know them are left alone.

    The dev server takes them as start flags, but the time-skipping test server only
    learns them this way, and an upsert of an unknown attribute makes a workflow task
    fail forever.
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    from motcua.workflows.contracts import SEARCH_ATTRIBUTES

    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    }
    have = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: kinds[key.indexed_value_type.name]
        for key in SEARCH_ATTRIBUTES
        if key.name not in have.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
