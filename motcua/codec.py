"""Payload encryption: every payload that leaves this process for Temporal is AES-256-GCM.

Dossiers, registry answers and results carry personal data (names, personal ids,
addresses), and Temporal stores them in its history for years. The codec encrypts each
payload after the pydantic converter has serialised it, so the server, its database, its
Web UI without our codec endpoint, and `temporal workflow show` see only ciphertext.

Wire format of an encrypted payload:
    metadata  encoding               = b"binary/encrypted"
              encryption-key-id      = b"<key id>"
              encryption-compression = b"zlib"   (only when the inner payload is compressed)
    data      nonce (12 random bytes) || AES-GCM(key, nonce, inner, aad=key id[;zlib])
where the inner payload is the original `Payload` message serialised with protobuf (its
own metadata, e.g. `encoding: json/plain`, included), zlib-compressed when it is larger
than `COMPRESS_ABOVE` bytes and compression saves something (ciphertext does not compress,
so it must happen before; docs/decisions/0008-compress-then-encrypt.md). The key id and the
compression flag are authenticated as associated data, so moving a ciphertext under another
key id, or flipping the flag, fails like any tampering.

Keys (see `load_keyring`):
- `MOTCUA_CODEC_KEYS="k2:<base64 32 bytes>,k1:<base64 32 bytes>"`: the first key is the
  active one (encrypts new payloads); the others only decrypt. Rotation: put a new key
  first and keep the old ones listed for as long as histories encrypted with them exist.
- otherwise `<data_dir>/codec-keys.json`, generated with one random key on first use,
  mode 0600. It is one machine's convenience; several machines must share keys, so they
  use the environment variable (from a secret store).

Decoding picks the key by the id in the metadata, and passes through payloads that carry no
`binary/encrypted` encoding, so histories recorded before the codec still replay.
Errors name key ids, never key material and never payload content.

`encode_payloads_json` / `decode_payloads_json` implement the body of Temporal's remote
codec protocol (`POST /codec/encode`, `POST /codec/decode`) for the API to mount, so the
Temporal Web UI and CLI can show decrypted payloads to authorised users.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import secrets
import stat
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

log = logging.getLogger(__name__)

ENV_VAR = "MOTCUA_CODEC_KEYS"
KEY_FILE_NAME = "codec-keys.json"
ENCODING = b"binary/encrypted"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
METADATA_COMPRESSION = "encryption-compression"
ZLIB = b"zlib"
# Below this a payload is stored as it is: zlib's header and a short input save nothing,
# and most small payloads (a step id, a status) are not worth the CPU.
COMPRESS_ABOVE = 256
ZLIB_LEVEL = 6
# A payload decompresses to at most this (Temporal refuses payloads above 2 MB anyway).
MAX_INFLATED = 64 * 1024 * 1024
KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class CodecKeyError(ValueError):
    """The key configuration is unusable (bad id, bad base64, wrong length, duplicates)."""


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be decrypted: unknown key id, or failed authentication."""


class CodecRequestError(ValueError):
    """A codec-server request body is not `{"payloads": [...]}` (the API answers 400)."""


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256 keys; `active_id` encrypts, every key decrypts."""

    active_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecKeyError("no codec key configured")
        for kid, key in self.keys.items():
            _check_key_id(kid)
            _check_key_length(kid, key)
        if self.active_id not in self.keys:
            raise CodecKeyError(f"active key {self.active_id!r} is not among the keys")

    @property
    def ids(self) -> list[str]:
        """Key ids, the active one first."""
        return [self.active_id, *(k for k in self.keys if k != self.active_id)]

    @classmethod
    def parse(cls, spec: str, *, source: str = ENV_VAR) -> KeyRing:
        """Parse `kid:base64key[,kid:base64key...]`; the first entry is the active key."""
        keys: dict[str, bytes] = {}
        for n, entry in enumerate(spec.split(","), start=1):
            entry = entry.strip()
            if not entry:
                raise CodecKeyError(f"{source}: entry {n} is empty")
            kid, sep, encoded = entry.partition(":")
            kid = kid.strip()
            if not sep:
                raise CodecKeyError(f"{source}: entry {n} is not 'key_id:base64key'")
            _check_key_id(kid, source=source)
            if kid in keys:
                raise CodecKeyError(f"{source}: key {kid!r} is listed twice")
            keys[kid] = _decode_key(kid, encoded.strip(), source=source)
        return cls(active_id=next(iter(keys)), keys=keys)

    def to_spec(self) -> str:
        """The `MOTCUA_CODEC_KEYS` form of this ring (secret: for a secret store only)."""
        return ",".join(f"{kid}:{base64.b64encode(self.keys[kid]).decode()}" for kid in self.ids)

    def rotated(self, new_id: str | None = None, new_key: bytes | None = None) -> KeyRing:
        """A ring whose active key is new; every current key stays for decoding."""
        new_id = new_id or new_key_id()
        if new_id in self.keys:
            raise CodecKeyError(f"key {new_id!r} already exists")
        key = new_key if new_key is not None else AESGCM.generate_key(bit_length=256)
        return KeyRing(active_id=new_id, keys={new_id: key, **self.keys})


def new_key_id() -> str:
    return f"k{secrets.token_hex(4)}"


def _check_key_id(kid: str, *, source: str = "codec keys") -> None:
    if not _KEY_ID.fullmatch(kid):
        raise CodecKeyError(
            f"{source}: key id {kid[:64]!r} must be 1-64 characters of letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )


def _check_key_length(kid: str, key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise CodecKeyError(f"key {kid!r} is {len(key)} bytes; AES-256-GCM needs {KEY_BYTES}")


def _decode_key(kid: str, encoded: str, *, source: str) -> bytes:
    # Never echo `encoded`: it is (possibly a mistyped) secret.
    if not encoded:
        raise CodecKeyError(f"{source}: key {kid!r} has no key material after ':'")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise CodecKeyError(f"{source}: key {kid!r} is not valid base64") from None
    _check_key_length(kid, key)
    return key


# -- where keys live ---------------------------------------------------------------------


def load_keyring(env: Mapping[str, str] | None = None, data_dir: Path | None = None) -> KeyRing:
    """Keys from `MOTCUA_CODEC_KEYS`, else from `<data_dir>/codec-keys.json` (made if absent;
    only in development: with MOTCUA_ENV set to anything else the keys must be given)."""
    env = os.environ if env is None else env
    spec = env.get(ENV_VAR, "").strip()
    if spec:
        return KeyRing.parse(spec)
    deployment = env.get("MOTCUA_ENV", "development").strip() or "development"
    if deployment != "development":
        # A key file made on each machine would leave every worker unable to read the
        # cases the others wrote: outside development the keys come from the environment.
        raise CodecKeyError(
            f"MOTCUA_ENV={deployment} needs the codec keys in {ENV_VAR} "
            "(id:base64-key[,id:key...], the first one active); refusing to generate a key file"
        )
    if data_dir is None:
        from motcua.settings import get_settings

        data_dir = get_settings().data_dir
    return load_key_file(data_dir / KEY_FILE_NAME)


def load_key_file(path: Path, *, create: bool = True) -> KeyRing:
    """Read a key file `{"keys": [{"id": ..., "key": base64}, ...]}` (first = active).

    A missing file is generated with one random key, mode 0600, atomically: two processes
    starting together end up with the same key.
    """
    if not path.exists():
        if not create:
            raise CodecKeyError(f"{path}: no such key file")
        key_id = new_key_id()
        ring = KeyRing(active_id=key_id, keys={key_id: AESGCM.generate_key(bit_length=256)})
        if _write_new(path, ring):
            log.info("generated payload codec key file %s (key id %s)", path, key_id)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("codec key file %s is readable by others (mode %o); use 0600", path, mode)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["keys"]
        pairs = [(str(e["id"]), str(e["key"])) for e in entries]
    except (ValueError, KeyError, TypeError):
        raise CodecKeyError(
            f'{path}: not a codec key file (expected {{"keys": [{{"id": ..., "key": ...}}]}})'
        ) from None
    if not pairs:
        raise CodecKeyError(f"{path}: no keys")
    keys: dict[str, bytes] = {}
    for kid, encoded in pairs:
        _check_key_id(kid, source=str(path))
        if kid in keys:
            raise CodecKeyError(f"{path}: key {kid!r} is listed twice")
        keys[kid] = _decode_key(kid, encoded.strip(), source=str(path))
    return KeyRing(active_id=pairs[0][0], keys=keys)


def save_key_file(path: Path, ring: KeyRing) -> None:
    """Replace a key file with `ring` (mode 0600, atomic rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, ring)
    os.replace(tmp, path)


def rotate_key_file(path: Path) -> KeyRing:
    """Make a new active key in the key file; old keys stay for decoding old payloads."""
    ring = load_key_file(path, create=False).rotated()
    save_key_file(path, ring)
    return ring


def _document(ring: KeyRing) -> str:
    keys = [{"id": kid, "key": base64.b64encode(ring.keys[kid]).decode()} for kid in ring.ids]
    return json.dumps({"keys": keys}, indent=2) + "\n"


def _write_temp(path: Path, ring: KeyRing) -> Path:
    fd, name = tempfile.mkstemp(prefix=".codec-keys-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_document(ring))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, 0o600)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _write_new(path: Path, ring: KeyRing) -> bool:
    """Create `path` only if absent (link is atomic and never overwrites)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, ring)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


# -- the codec --------------------------------------------------------------------------


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM per payload, key id in metadata; unencrypted payloads pass through."""

    def __init__(self, keyring: KeyRing) -> None:
        self._ring = keyring
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.keys.items()}

    @property
    def active_key_id(self) -> str:
        return self._ring.active_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        kid = self._ring.active_id
        inner = payload.SerializeToString()
        metadata = {METADATA_ENCODING: ENCODING, METADATA_KEY_ID: kid.encode()}
        if len(inner) > COMPRESS_ABOVE:
            packed = zlib.compress(inner, ZLIB_LEVEL)
            if len(packed) < len(inner):
                inner = packed
                metadata[METADATA_COMPRESSION] = ZLIB
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, inner, _aad(kid.encode(), metadata))
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            return payload  # recorded before the codec, or never encrypted
        raw_kid = payload.metadata.get(METADATA_KEY_ID)
        if raw_kid is None:
            raise PayloadDecryptionError(
                f"encrypted payload has no {METADATA_KEY_ID!r} metadata; cannot pick a key"
            )
        kid = raw_kid.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            known = ", ".join(repr(k) for k in self._ring.ids)
            raise PayloadDecryptionError(
                f"payload was encrypted with key {kid[:64]!r}, which is not configured "
                f"(known keys: {known}); add it to {ENV_VAR} as a decode-only key"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + _TAG_BYTES:
            raise PayloadDecryptionError(
                f"encrypted payload (key {kid!r}) is truncated: {len(data)} bytes"
            )
        compression = payload.metadata.get(METADATA_COMPRESSION)
        if compression not in (None, ZLIB):
            raise PayloadDecryptionError(
                f"encrypted payload (key {kid!r}) names an unknown compression "
                f"{compression[:16].decode('ascii', errors='replace')!r}; "
                "this worker knows only 'zlib'"
            )
        try:
            aad = _aad(raw_kid, payload.metadata)
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"encrypted payload (key {kid!r}) failed authentication: "
                "it was altered, or the key with this id is not the one that encrypted it"
            ) from None
        if compression == ZLIB:
            plain = _inflate(plain, kid)
        inner = Payload()
        try:
            inner.ParseFromString(plain)
        except DecodeError:
            raise PayloadDecryptionError(
                f"encrypted payload (key {kid!r}) does not hold a payload message"
            ) from None
        return inner


def _aad(raw_kid: bytes, metadata: Mapping[str, bytes]) -> bytes:
    """Associated data: the key id, and the compression flag when there is one (payloads
    written before compression carry the key id alone, and still decrypt)."""
    compression = metadata.get(METADATA_COMPRESSION)
    return raw_kid if compression is None else raw_kid + b";" + compression


def _inflate(packed: bytes, kid: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(packed, MAX_INFLATED)
    except zlib.error:
        raise PayloadDecryptionError(
            f"encrypted payload (key {kid!r}) does not hold valid zlib data"
        ) from None
    if inflater.unconsumed_tail:
        raise PayloadDecryptionError(
            f"encrypted payload (key {kid!r}) inflates to more than {MAX_INFLATED:,} bytes"
        )
    return plain


def codec_from_settings() -> EncryptionCodec:
    """The codec for this process: keys from the environment or the data directory."""
    return EncryptionCodec(load_keyring())


# -- the remote codec protocol (Temporal Web UI / CLI `--codec-endpoint`) ----------------


def _parse_payloads(body: bytes | str | Mapping[str, Any]) -> Payloads:
    try:
        if isinstance(body, bytes | str):
            body = json.loads(body)
        if not isinstance(body, Mapping) or not isinstance(body.get("payloads"), list):
            raise CodecRequestError('codec request body must be {"payloads": [...]}')
        return json_format.ParseDict(dict(body), Payloads())
    except CodecRequestError:
        raise
    except (ValueError, json_format.ParseError) as e:
        # json/protobuf parse errors quote positions, not the payload content.
        raise CodecRequestError(f"codec request body is not valid: {type(e).__name__}") from None


def _dump_payloads(payloads: Sequence[Payload]) -> dict[str, Any]:
    body = json_format.MessageToDict(Payloads(payloads=payloads))
    body.setdefault("payloads", [])
    return body


async def encode_payloads_json(
    body: bytes | str | Mapping[str, Any], codec: PayloadCodec | None = None
) -> dict[str, Any]:
    """`POST /codec/encode`: `{"payloads": [{"metadata": {k: b64}, "data": b64}]}` in and out."""
    codec = codec or codec_from_settings()
    return _dump_payloads(await codec.encode(_parse_payloads(body).payloads))


async def decode_payloads_json(
    body: bytes | str | Mapping[str, Any], codec: PayloadCodec | None = None
) -> dict[str, Any]:
    """`POST /codec/decode`: same shape; plaintext out, so only for authorised users."""
    codec = codec or codec_from_settings()
    return _dump_payloads(await codec.decode(_parse_payloads(body).payloads))
