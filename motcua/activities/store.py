"""Result storage addressed by content: the bytes' SHA-256 names them.

A reference is `<sha256 hex><suffix>`, e.g. `9f2c...e1.pdf`. It says nothing about where the
bytes live, so the same reference works on the local disk today and in an object store
(S3, MinIO) later: implement `ResultStore` and return it from `get_store()`.

`LocalResultStore` keeps `data_dir/results/ab/abcdef....pdf` (the first two hex digits fan
the files out). Writes are atomic (temporary file in the same directory, fsync,
`os.replace`), so a crash never leaves a half-written result under a real name, and a
second `put` of the same bytes finds the file and writes nothing. `get` re-hashes what it
reads, so a corrupted file is reported rather than served.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

from motcua.files import write_atomic
from motcua.settings import get_settings

REF = re.compile(r"^(?P<digest>[0-9a-f]{64})(?P<suffix>\.[a-z0-9]{1,10})?$")
SUFFIX = re.compile(r"^(\.[a-z0-9]{1,10})?$")


class StoreError(Exception):
    """A malformed reference, missing or corrupted content (never personal data)."""


@runtime_checkable
class ResultStore(Protocol):
    def put(self, data: bytes, suffix: str) -> str:
        """Store `data`; return its reference. Storing the same bytes again is a no-op."""
        ...

    def get(self, ref: str) -> bytes:
        """The bytes of `ref`; StoreError if absent or not matching its hash."""
        ...

    def exists(self, ref: str) -> bool: ...


def make_ref(data: bytes, suffix: str) -> str:
    suffix = suffix.lower()
    if not SUFFIX.match(suffix):
        raise StoreError(f"invalid suffix {suffix!r}: expected e.g. '.pdf'")
    return hashlib.sha256(data).hexdigest() + suffix


def parse_ref(ref: str) -> tuple[str, str]:
    """(digest, suffix) of a reference; StoreError when it is not one."""
    m = REF.match(ref)
    if not m:
        raise StoreError("invalid result reference: expected '<sha256 hex><.suffix>'")
    return m["digest"], m["suffix"] or ""


class LocalResultStore:
    """Content-addressed files under `root` (default data_dir/results)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, ref: str) -> Path:
        digest, suffix = parse_ref(ref)
        return self.root / digest[:2] / f"{digest}{suffix}"

    def put(self, data: bytes, suffix: str) -> str:
        ref = make_ref(data, suffix)
        target = self.path(ref)
        if target.is_file() and target.stat().st_size == len(data):
            return ref
        write_atomic(target, data)
        return ref

    def get(self, ref: str) -> bytes:
        digest, _ = parse_ref(ref)
        try:
            data = self.path(ref).read_bytes()
        except FileNotFoundError as err:
            raise StoreError(f"result {ref} not found") from err
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError(f"result {ref} is corrupted (content does not match its hash)")
        return data

    def exists(self, ref: str) -> bool:
        return self.path(ref).is_file()


def get_store() -> ResultStore:
    """The configured result store (local disk under the data dir, for now)."""
    return LocalResultStore(get_settings().data_dir / "results")
