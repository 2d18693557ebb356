"""Where closed cases are archived: named files under one key per case.

Temporal keeps a history only for its namespace's retention period; the archive keeps it
for as long as the law asks. A case's files sit under `<dossier code>/<run id>/`
(motcua.audit.archive writes them). The keys say nothing about where the bytes live, so an
object store (S3, MinIO: one object per key, written with If-None-Match) implements
`ArchiveStore` as the directory does today; `get_archive()` returns the configured one.

`DirectoryArchive` keeps `MOTCUA_ARCHIVE_DIR` (default data_dir/archive). Writes are atomic
(temporary file, fsync, `os.replace`) and idempotent: putting the bytes a key already holds
writes nothing; putting different bytes under a key that holds others is refused, because
an archive entry is never rewritten (a case run again is archived under its new run id).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from motcua.files import write_atomic
from motcua.settings import get_settings

# A key: path segments of letters, digits and . _ - ~ (dossier codes, run ids, file names).
_KEY = re.compile(r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class ArchiveError(Exception):
    """A malformed key, or an entry that would be rewritten with other bytes."""


@runtime_checkable
class ArchiveStore(Protocol):
    def put(self, key: str, data: bytes) -> bool:
        """Keep `data` under `key`; True if written, False if the key held these bytes."""
        ...

    def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under `prefix` (a key or a folder of keys), in no given order."""
        ...


def segment(name: str) -> str:
    """`name` as one key segment: a character outside [A-Za-z0-9._-] becomes ~XX (hex)."""
    safe = _UNSAFE.sub(lambda m: "".join(f"~{b:02X}" for b in m[0].encode()), name)
    return "~2E" + safe[1:] if safe.startswith(".") else safe


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise ArchiveError(f"invalid archive key {key!r}: expected segments of [A-Za-z0-9._~-]")
    return key


class DirectoryArchive:
    """An archive in a directory of files; a key is a relative path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> bool:
        target = self.root / check_key(key)
        if target.is_file():
            if target.read_bytes() == data:
                return False
            raise ArchiveError(f"archive entry {key} already holds other content; not rewritten")
        write_atomic(target, data)
        return True

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / check_key(key)).read_bytes()
        except FileNotFoundError:
            return None

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self.root / check_key(prefix) if prefix else self.root
        if base.is_file():
            yield prefix
            return
        if not base.is_dir():
            return
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()


def get_archive() -> ArchiveStore:
    """The configured archive: the directory MOTCUA_ARCHIVE_DIR (default data_dir/archive)."""
    default = get_settings().data_dir / "archive"
    return DirectoryArchive(Path(os.environ.get("MOTCUA_ARCHIVE_DIR", default)))
