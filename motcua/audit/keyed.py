"""Keyed references that keep personal data out of the audit log.

A citizen's token subject is their personal id, so the log records a citizen as a keyed
pseudonym: HMAC-SHA256 under a key of its own, `<data dir>/audit/pseudonym.key` (32
random bytes, made on first use, file mode 0600). The same citizen always gets the same
pseudonym, so an auditor holding the key can find a citizen's entries
(`pseudonym(personal_id)`), while the log alone names nobody. The key is not the codec's:
those rotate, and a pseudonym must not change. Several hosts writing one log must share
the key file (as they share the data dir's other keys).

Free text that may hold personal data (a decision's comment, a resume's reason) is
recorded by `text_ref`: its length and a keyed digest, enough to show that the text in
the case's history is the one sent, and useless for guessing it: an unkeyed SHA-256 of a
short comment could be found by trying likely texts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from motcua.settings import get_settings

KEY_BYTES = 32
_lock = threading.Lock()
_keys: dict[Path, bytes] = {}


def key_path() -> Path:
    return get_settings().data_dir / "audit" / "pseudonym.key"


def _made(path: Path) -> None:
    """Write a new key at `path` unless another process has just made one (keep theirs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(KEY_BYTES))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def key() -> bytes:
    """The pseudonym key of this data dir, made on first use."""
    path = key_path()
    with _lock:
        found = _keys.get(path)
        if found is not None:
            return found
        if not path.exists():
            _made(path)
        data = path.read_bytes()
        if len(data) != KEY_BYTES:
            raise ValueError(
                f"{path} holds {len(data)} bytes, not a {KEY_BYTES}-byte key: restore it from "
                "a backup (a new key would give every citizen new pseudonyms)"
            )
        _keys[path] = data
        return data


def _mac(kind: str, text: str) -> str:
    return hmac.new(key(), f"{kind}\x00{text}".encode(), hashlib.sha256).hexdigest()


def pseudonym(subject: str) -> str:
    """The name the log gives a citizen whose personal id is `subject`."""
    return "ps-" + _mac("subject", subject)[:32]


def text_ref(text: str) -> dict[str, int | str]:
    """What the log keeps of free text: its length, and a keyed digest when not empty."""
    if not text:
        return {"chars": 0}
    return {"chars": len(text), "mac": _mac("text", text)[:16]}
