"""One way to reach Temporal, shared by the worker, the CLI, the API and the tests."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from motcua.codec import codec_from_settings
from motcua.settings import get_settings


class _QuietJSONConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON whose decoding errors name the field and the problem, never the value:
    a rejected value may be a personal id, and error messages travel in plain text (into
    logs, and to callers of a refused Update)."""

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(value)'}: {err['msg']}"
                for err in e.errors(include_input=False, include_url=False)
            )
            raise ValueError(f"cannot decode {e.title}: {problems}") from None


class PayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            *(
                _QuietJSONConverter() if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


def data_converter() -> DataConverter:
    """Pydantic models cross the workflow boundary as JSON, then AES-256-GCM (motcua.codec).

    Failures too: their message and stack trace travel as encoded attributes, so no
    personal data stands in plain text in a history, failures included.
    Keys are read now (environment or the data directory's key file), so a worker with a
    bad key configuration fails at start, not in the middle of a workflow task.
    """
    return DataConverter(
        payload_converter_class=PayloadConverter,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        payload_codec=codec_from_settings(),
    )


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    s = get_settings()
    return await Client.connect(
        address or s.temporal_address,
        namespace=namespace or s.temporal_namespace,
        data_converter=data_converter(),
    )


async def ensure_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register our search attributes; a server that already knows them is left alone.

    The dev server takes them as start flags, but the time-skipping test server only
    learns them this way (it cannot list them either), and an upsert of an unknown
    attribute makes a workflow task fail forever.
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from motcua.workflows.contracts import SEARCH_ATTRIBUTES

    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    }
    for key in SEARCH_ATTRIBUTES:
        request = AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={key.name: kinds[key.indexed_value_type.name]},
        )
        try:
            await client.operator_service.add_search_attributes(request)
        except RPCError as e:
            if e.status != RPCStatusCode.ALREADY_EXISTS:
                raise
