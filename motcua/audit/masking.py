"""Personal data masked for an auditor who may not read it, and the hashes that stand in.

A case's history holds citizens' personal ids, names, addresses, phones, emails and dates
of birth: in the dossier, in the registries' answers, in documents' data and in the texts
built from them ("Đã đăng ký khai sinh cho trẻ <tên>; số định danh cá nhân của trẻ: <số>").
An auditor without the personal-data permission reads the same timeline with them masked,
found three ways, so that one missed way does not leak:

1. by field name: a value under a personal key (`PERSONAL_KEYS`, or a key ending in
   `_pid`, `_name`, `_birth_date`, `_address`, `_phone` or `_email`, except the names of
   places and agencies in `NOT_PERSONAL`) is masked whole, a nested address included;
2. by shape, in any text: 9 to 12 digits standing alone (personal id, old 9-digit CMND,
   social-insurance number, phone), `+84` phones and email addresses;
3. by value: every text the history holds under a personal key (the mother's name, say) is
   masked wherever else it appears, inside longer texts too (`Masker.learn` collects them
   from the whole history first).

Codes, statuses, dates of events, agency codes, step ids, document hashes and verification
codes stay readable: hexadecimal digests and keys of the engine's own (`READABLE_KEYS`) are
never masked by shape.

How a masked value looks (`MASK`): an id keeps its last two characters, `••••••••••12`
(as many dots as the characters it hides), so an auditor can tell two people apart; a
name, an address, an email, a date of birth becomes `•••`. Free text written by people
(an officer's comment or reason, a citizen's note) is masked whole (`Masker.free_text`):
it may name anyone, in words no rule finds.

Hashes: `sha256_json(value)` is the SHA-256 of the canonical JSON of a decoded payload
(keys sorted, no spaces, UTF-8, non-ASCII kept as is: `json.dumps(value, sort_keys=True,
ensure_ascii=False, separators=(",", ":"))`), the way definition hashes are taken
(motcua.workflows.contracts.canonical). Anyone with the codec keys can recompute it from the
history. Hashes are of the unmasked value, and a hash of a small request (one personal id
and the case's own key) can be found by trying every id: they prove what was sent, they do
not hide it from someone determined to guess.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from motcua.workflows.procedure import CANCELLED_REASON, SUPPLEMENT_EXPIRED

MASK = "•••"
DOT = "•"

PERSONAL_KEYS = frozenset(
    {
        # names
        "name", "full_name", "family_name", "given_name", "names",
        # personal ids and the numbers that identify one person or household
        "pid", "pids", "cmnd", "cccd", "passport_no", "personal_id", "subject_pids",
        "social_insurance_no", "social_insurance_nos", "card_no", "household_id",
        # where they live, how to reach them, when they were born
        "address", "street", "permanent_address", "temporary_address", "last_residence",
        "address_text", "phone", "phones", "email", "emails",
        "birth_date", "date_of_birth", "dob", "birthday",
        # the register book's own labels (motcua.activities.register)
        "người chết", "họ tên", "họ và tên", "ngày sinh", "địa chỉ", "nơi cư trú",
        "số định danh", "số định danh cá nhân", "số điện thoại", "thư điện tử",
    }
)  # fmt: skip
PERSONAL_SUFFIXES = ("_pid", "_pids", "_name", "_birth_date", "_address", "_phone", "_email")
# Names of places, agencies and papers: ending in `_name`, and readable.
NOT_PERSONAL = frozenset(
    {
        "agency_name", "commune_name", "province_name", "district_name", "ward_name",
        "place_name", "facility_name", "procedure_name", "template_name", "signal_name",
    }
)  # fmt: skip
# Values the engine writes itself, never personal, and full of digits: left alone by shape.
READABLE_KEYS = frozenset(
    {
        "sha256", "hash", "document_ref", "verification_code", "verification_url",
        "idempotency_key", "dossier_code", "provider_id", "of_key", "parent",
    }
)  # fmt: skip

_ID = re.compile(r"(?<![0-9A-Za-z])\d{9,12}(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9A-Za-z])\+84[ .]?\d{2,3}([ .]?\d{3}){2}(?![0-9A-Za-z])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DIGEST = re.compile(r"[0-9a-fA-F]{32,}(\.[a-z]+)?")
# Reasons the engine itself gives a rejected or aborted case (motcua.workflows.procedure).
ENGINE_REASONS = frozenset({"Hồ sơ bị từ chối", SUPPLEMENT_EXPIRED, CANCELLED_REASON})
# Shorter known values are not looked for inside other texts: "An" is a name and a place.
MIN_KNOWN = 6


def sha256_json(value: Any) -> str:
    """SHA-256 of the canonical JSON of a decoded payload value (see the module's text)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_personal_key(key: str) -> bool:
    k = key.strip().lower()
    if k in NOT_PERSONAL:
        return False
    return k in PERSONAL_KEYS or k.endswith(PERSONAL_SUFFIXES)


def mask_id(value: str) -> str:
    """`••••••••••12`: an id with its last two characters."""
    return DOT * max(len(value) - 2, 3) + value[-2:]


def _mask_whole(value: Any) -> Any:
    if value is None or value == "" or isinstance(value, bool):
        return value
    if isinstance(value, str | int) and re.fullmatch(r"[A-Za-z]{0,3}\d{6,}", str(value)):
        return mask_id(str(value))
    return MASK


class Masker:
    """Masks personal data in decoded payloads, or passes everything when `personal_data`
    (the caller's role allows it). Call `learn` with every decoded value of the history
    before masking any, so a name seen once in a registry's answer is masked everywhere."""

    def __init__(self, personal_data: bool, known: Iterable[str] = ()) -> None:
        self.personal_data = personal_data
        self.known: set[str] = set(known)
        self.written: set[str] = set()  # free texts masked so far (see `reason`)
        self._pattern: re.Pattern[str] | None = None

    def learn(self, value: Any, personal: bool = False) -> None:
        """Remember the texts `value` holds under personal keys (in an address, the street,
        not its province)."""
        if isinstance(value, dict):
            for k, v in value.items():
                self.learn(v, isinstance(k, str) and is_personal_key(k))
        elif isinstance(value, list):
            for v in value:
                self.learn(v, personal)
        elif personal and isinstance(value, str) and len(value.strip()) >= MIN_KNOWN:
            self.known.add(value.strip())
            self._pattern = None

    def learn_written(self, text: Any) -> None:
        """Remember a text a person wrote, so that it is masked wherever it is repeated (a
        rejection's comment in the case's reason, in a notification's data)."""
        if isinstance(text, str) and text.strip():
            self.written.add(text.strip())
            if len(text.strip()) >= MIN_KNOWN:
                self.known.add(text.strip())
                self._pattern = None

    def value(self, value: Any, key: str | None = None) -> Any:
        """`value` (plain JSON) as the auditor may read it."""
        if self.personal_data:
            return value
        if key is not None and is_personal_key(key):
            return _mask_whole(value)
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, key) for v in value]
        if isinstance(value, str) and key not in READABLE_KEYS:
            return self.text(value)
        return value

    def text(self, text: str | None) -> str | None:
        """A text with the personal values in it masked (by shape and by known value)."""
        if self.personal_data or not text or _DIGEST.fullmatch(text):
            return text
        if self.known:
            if self._pattern is None:
                ordered = sorted(self.known, key=len, reverse=True)  # longest first
                self._pattern = re.compile("|".join(map(re.escape, ordered)))
            text = self._pattern.sub(lambda m: _mask_whole(m.group()), text)
        text = _EMAIL.sub(MASK, text)
        text = _PHONE.sub(lambda m: mask_id(re.sub(r"\D", "", m.group())), text)
        return _ID.sub(lambda m: mask_id(m.group()), text)

    def free_text(self, text: str | None) -> str | None:
        """Text a person wrote (a comment, a reason): masked whole when it is not empty."""
        if self.personal_data or not text:
            return text
        self.written.add(text.strip())
        return MASK

    def reason(self, text: str | None, free: bool) -> str | None:
        """Why a case ended. A rejected or aborted case's reason is an officer's comment or
        reason (or a definition's words, which may quote the dossier): `free`, it is masked
        whole unless it is one of the engine's own words (`ENGINE_REASONS`). Any reason that
        repeats a free text already masked is masked too."""
        if self.personal_data or not text:
            return text
        if text.strip() in self.written or (free and text not in ENGINE_REASONS):
            return MASK
        return self.text(text)
