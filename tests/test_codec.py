"""The payload codec: AES-256-GCM, key ids, rotation, pass-through, and a real server's view."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

# The workflow below is defined in this module, so the sandbox re-imports it: everything
# else is passed through (cryptography's native module cannot be imported twice).
with workflow.unsafe.imports_passed_through():
    import pytest
    from temporalio.api.common.v1 import Payload, WorkflowExecution
    from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from motcua.codec import (
        COMPRESS_ABOVE,
        ENCODING,
        ENV_VAR,
        METADATA_COMPRESSION,
        METADATA_KEY_ID,
        CodecKeyError,
        CodecRequestError,
        EncryptionCodec,
        KeyRing,
        PayloadDecryptionError,
        decode_payloads_json,
        encode_payloads_json,
        load_key_file,
        load_keyring,
        rotate_key_file,
    )
    from motcua.temporal import data_converter

NAME = "Nguyễn Thị Ánh Tuyết"
PID = "079301004567"
DOSSIER = {"full_name": NAME, "pid": PID, "address": "Phường Bến Nghé, Quận 1"}
K1 = bytes(range(32))
K2 = bytes(range(32, 64))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def plain_payload(value: Any = DOSSIER) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([value])[0]


def codec(*pairs: tuple[str, bytes]) -> EncryptionCodec:
    return EncryptionCodec(KeyRing.parse(",".join(f"{kid}:{b64(key)}" for kid, key in pairs)))


# -- unit: encryption ---------------------------------------------------------------------


async def test_round_trip_hides_content_and_restores_it() -> None:
    c = codec(("k1", K1))
    original = plain_payload()
    [sealed] = await c.encode([original])
    assert sealed.metadata["encoding"] == ENCODING == b"binary/encrypted"
    assert sealed.metadata[METADATA_KEY_ID] == b"k1"
    assert set(sealed.metadata) == {"encoding", METADATA_KEY_ID}  # inner encoding hidden too
    assert NAME.encode() not in sealed.SerializeToString()
    assert PID.encode() not in sealed.SerializeToString()
    [opened] = await c.decode([sealed])
    assert opened == original
    # A fresh random nonce each time: equal plaintexts give different ciphertexts.
    [again] = await c.encode([original])
    assert again.data != sealed.data and again.data[:12] != sealed.data[:12]


async def test_rotation_keeps_old_payloads_readable() -> None:
    before = codec(("k1", K1))
    [old] = await before.encode([plain_payload()])

    after = codec(("k2", K2), ("k1", K1))  # k2 active, k1 decode-only
    assert after.active_key_id == "k2"
    [new] = await after.encode([plain_payload()])
    assert new.metadata[METADATA_KEY_ID] == b"k2"
    assert await after.decode([old, new]) == [plain_payload(), plain_payload()]

    # A process that only knows k1 cannot read what k2 wrote, and says which key it lacks.
    with pytest.raises(PayloadDecryptionError, match="'k2'"):
        await before.decode([new])


async def test_unknown_key_id_names_the_key_never_the_content() -> None:
    [sealed] = await codec(("old", K1)).encode([plain_payload()])
    with pytest.raises(PayloadDecryptionError) as info:
        await codec(("k2", K2)).decode([sealed])
    message = str(info.value)
    assert "'old'" in message and "not configured" in message and ENV_VAR in message
    assert NAME not in message and PID not in message and b64(K1) not in message


@pytest.mark.parametrize("part", ["nonce", "ciphertext", "tag", "key-id"])
async def test_tampering_is_detected(part: str) -> None:
    c = codec(("k1", K1), ("k0", K2))
    [sealed] = await c.encode([plain_payload()])
    data = bytearray(sealed.data)
    tampered = Payload()
    tampered.CopyFrom(sealed)
    if part == "key-id":  # same bytes presented under the other configured key id
        tampered.metadata[METADATA_KEY_ID] = b"k0"
    else:
        at = {"nonce": 3, "ciphertext": 20, "tag": len(data) - 1}[part]
        data[at] ^= 0x01
        tampered.data = bytes(data)
    with pytest.raises(PayloadDecryptionError, match="failed authentication") as info:
        await c.decode([tampered])
    assert NAME not in str(info.value)


async def test_large_payloads_are_compressed_before_encryption() -> None:
    """A definition or a dossier is mostly repeated text: compressed, then encrypted (ADR
    0008). The flag is authenticated, so flipping it fails like any other tampering."""
    c = codec(("k1", K1))
    big = plain_payload(
        {"steps": [{"id": f"s{i}", "title": "Báo đã tiếp nhận hồ sơ"} for i in range(200)]}
    )
    small = plain_payload("ok")
    assert len(small.SerializeToString()) <= COMPRESS_ABOVE < len(big.SerializeToString())
    [sealed_big, sealed_small] = await c.encode([big, small])
    assert sealed_big.metadata[METADATA_COMPRESSION] == b"zlib"
    assert len(sealed_big.data) < len(big.SerializeToString()) / 4
    assert METADATA_COMPRESSION not in sealed_small.metadata
    assert await c.decode([sealed_big, sealed_small]) == [big, small]

    unflagged = Payload()
    unflagged.CopyFrom(sealed_big)
    del unflagged.metadata[METADATA_COMPRESSION]
    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await c.decode([unflagged])
    flagged = Payload()
    flagged.CopyFrom(sealed_small)
    flagged.metadata[METADATA_COMPRESSION] = b"zlib"
    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await c.decode([flagged])
    flagged.metadata[METADATA_COMPRESSION] = b"lz4"
    with pytest.raises(PayloadDecryptionError, match="unknown compression 'lz4'"):
        await c.decode([flagged])


async def test_payloads_written_before_compression_still_decrypt() -> None:
    """Histories recorded before compression (key id alone as associated data) replay."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    inner = plain_payload({"x": "y" * 1000})
    nonce = os.urandom(12)
    old = Payload(
        metadata={"encoding": ENCODING, METADATA_KEY_ID: b"k1"},
        data=nonce + AESGCM(K1).encrypt(nonce, inner.SerializeToString(), b"k1"),
    )
    assert await codec(("k1", K1)).decode([old]) == [inner]


async def test_truncated_or_unlabelled_ciphertext_is_refused() -> None:
    c = codec(("k1", K1))
    with pytest.raises(PayloadDecryptionError, match="truncated"):
        await c.decode([Payload(metadata={"encoding": ENCODING, METADATA_KEY_ID: b"k1"})])
    with pytest.raises(PayloadDecryptionError, match=METADATA_KEY_ID):
        await c.decode([Payload(metadata={"encoding": ENCODING}, data=b"x" * 40)])


async def test_unencrypted_payloads_pass_through() -> None:
    c = codec(("k1", K1))
    plain = [plain_payload(), plain_payload(None), Payload(data=b"raw, no metadata")]
    assert await c.decode(plain) == plain


async def test_pydantic_converter_with_codec_round_trips_models() -> None:
    conv = data_converter()
    assert isinstance(conv.payload_codec, EncryptionCodec)
    assert isinstance(conv.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    payloads = await conv.encode([DOSSIER, 42])
    assert all(p.metadata["encoding"] == ENCODING for p in payloads)
    assert await conv.decode(payloads, [dict, int]) == [DOSSIER, 42]


# -- unit: keys ---------------------------------------------------------------------------


def test_key_spec_first_is_active_and_spec_round_trips() -> None:
    ring = KeyRing.parse(f" k2 : {b64(K2)} , k1:{b64(K1)}")
    assert ring.active_id == "k2" and ring.ids == ["k2", "k1"]
    assert ring.keys == {"k2": K2, "k1": K1}
    assert KeyRing.parse(ring.to_spec()) == ring
    assert b64(K1) not in repr(ring)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"k1:{b64(bytes(16))}", "key 'k1' is 16 bytes; AES-256-GCM needs 32"),
        ("k1:not*base64!", "key 'k1' is not valid base64"),
        ("k1:", "key 'k1' has no key material"),
        (b64(K1), "entry 1 is not 'key_id:base64key'"),
        (f"k1:{b64(K1)},,k2:{b64(K2)}", "entry 2 is empty"),
        (f"k1:{b64(K1)},k1:{b64(K2)}", "key 'k1' is listed twice"),
        (f"bad id:{b64(K1)}", "key id 'bad id' must be"),
        (f":{b64(K1)}", "key id '' must be"),
    ],
)
def test_key_spec_errors_are_precise_and_never_echo_keys(spec: str, message: str) -> None:
    with pytest.raises(CodecKeyError) as info:
        KeyRing.parse(spec)
    assert message in str(info.value)
    assert "not*base64" not in str(info.value) and b64(K1) not in str(info.value)


def test_environment_wins_over_key_file(tmp_path: Path) -> None:
    ring = load_keyring({ENV_VAR: f"env1:{b64(K1)}"}, data_dir=tmp_path)
    assert ring.active_id == "env1"
    assert not (tmp_path / "codec-keys.json").exists()


def test_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_keyring({ENV_VAR: "  "}, data_dir=data_dir)  # blank counts as unset
    path = data_dir / "codec-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["codec-keys.json"]  # no temp file left
    assert len(first.keys[first.active_id]) == 32
    assert load_keyring({}, data_dir=data_dir) == first  # reused, not regenerated


async def test_key_file_rotation(tmp_path: Path) -> None:
    path = tmp_path / "codec-keys.json"
    before = load_key_file(path)
    [old] = await EncryptionCodec(before).encode([plain_payload()])
    after = rotate_key_file(path)
    assert after.active_id != before.active_id and after.ids[1:] == [before.active_id]
    assert load_key_file(path) == after and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await EncryptionCodec(load_key_file(path)).decode([old]) == [plain_payload()]


def test_broken_key_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "codec-keys.json"
    path.write_text('{"keys": [{"id": "k1", "key": "' + b64(bytes(31)) + '"}]}')
    with pytest.raises(CodecKeyError, match="key 'k1' is 31 bytes; AES-256-GCM needs 32"):
        load_key_file(path)
    path.write_text("[]")
    with pytest.raises(CodecKeyError, match="not a codec key file"):
        load_key_file(path)
    with pytest.raises(CodecKeyError, match="no such key file"):
        load_key_file(tmp_path / "absent.json", create=False)


# -- the remote codec protocol -------------------------------------------------------------


async def test_codec_server_json_protocol() -> None:
    c = codec(("k1", K1))
    original = plain_payload()
    request = {
        "payloads": [
            {
                "metadata": {k: b64(v) for k, v in original.metadata.items()},
                "data": b64(original.data),
            }
        ]
    }
    encoded = await encode_payloads_json(json.dumps(request).encode(), c)
    [item] = encoded["payloads"]
    assert base64.b64decode(item["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(item["metadata"][METADATA_KEY_ID]) == b"k1"
    assert NAME.encode() not in base64.b64decode(item["data"])

    decoded = await decode_payloads_json(json.dumps(encoded), c)
    assert decoded == request
    assert await decode_payloads_json({"payloads": []}, c) == {"payloads": []}

    for bad in [b"not json", b"{}", b'{"payloads": 3}', b'{"payloads": [{"data": 5}]}']:
        with pytest.raises(CodecRequestError):
            await decode_payloads_json(bad, c)


# -- end to end on a real Temporal server ---------------------------------------------------


@activity.defn(name="codec_test.echo")
async def echo_activity(dossier: dict[str, Any]) -> dict[str, Any]:
    return {**dossier, "seen_by": "activity"}


@workflow.defn(name="CodecEchoWorkflow")
class CodecEchoWorkflow:
    @workflow.run
    async def run(self, dossier: dict[str, Any]) -> dict[str, Any]:
        return await workflow.execute_activity(
            "codec_test.echo", dossier, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_server_history_holds_only_ciphertext(ts_env: WorkflowEnvironment) -> None:
    client = ts_env.client
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
    queue = f"codec-{uuid.uuid4()}"
    workflow_id = f"codec-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[CodecEchoWorkflow], activities=[echo_activity]
    ):
        handle = await client.start_workflow(
            CodecEchoWorkflow.run, DOSSIER, id=workflow_id, task_queue=queue
        )
        assert await handle.result() == {**DOSSIER, "seen_by": "activity"}

    # What the server stores, fetched without any codec.
    raw = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    stored = raw.SerializeToString()
    for secret in (NAME, PID, "Bến Nghé", "full_name"):
        assert secret.encode() not in stored, secret
    started = raw.history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == ENCODING

    # A client without the codec sees only ciphertext it cannot convert.
    bare = Client(
        client.service_client, namespace=client.namespace, data_converter=pydantic_data_converter
    )
    with pytest.raises(Exception, match="binary/encrypted"):
        await bare.get_workflow_handle(workflow_id).result()


def test_conftest_uses_a_fixed_test_key() -> None:
    # Tests never create a key file (in the repository or elsewhere).
    assert os.environ.get(ENV_VAR, "").startswith("test:")
