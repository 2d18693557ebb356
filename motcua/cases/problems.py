"""What is wrong with a dossier, in the citizen's words: one `Problem` per field, with a
stable code for programs and a Vietnamese message saying what is wrong and what to do.

The dossier checker (motcua.workflows.dsl.dossier) and the case's supplement check
(motcua.workflows.case_book) word their refusals in English for the engine, its logs and
the CLI, as 'field: what is wrong' lines that name the field and the rule, never the value.
`explain` reads those lines into problems through one table (`_RULES`), one row per rule
the checker has; tests/test_api_citizen_parties.py provokes every rule and fails on a line
no row reads. A line no row reads still gets a Vietnamese message (code `invalid`), and is
logged so the table can catch up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping

from pydantic import BaseModel, Field

from motcua.workflows.dsl.model import Schema

log = logging.getLogger(__name__)


class Problem(BaseModel):
    field: str = Field(
        description="The field it is about (`a.b`, `a[0]` inside an object or a list; `as` "
        "for the party parameter; empty for the dossier as a whole)"
    )
    code: str = Field(description="What is wrong, as a stable code (required, pid_format, ...)")
    title: str | None = Field(None, description="The field's title as the form shows it")
    message: str = Field(description="What is wrong and what to do, in Vietnamese")


Words = Callable[[re.Match[str]], str]

# (English rule as the checker words it, code, Vietnamese: what is wrong; what to do).
_RULES: list[tuple[str, str, str | Words]] = [
    (r"required", "required", "còn để trống; đây là thông tin bắt buộc, Ông/Bà vui lòng điền"),
    (r"unknown field", "unknown_field",
     "không có trong tờ khai của thủ tục này; Ông/Bà bỏ thông tin này khỏi hồ sơ"),
    (r"must be an object", "not_object",
     "phải là một nhóm thông tin; Ông/Bà gửi lại theo đúng mẫu tờ khai"),
    (r"must be text", "not_text", "phải là chữ; Ông/Bà nhập lại thông tin này dưới dạng chữ"),
    (r"is not valid text \(.*\)", "invalid_text",
     "có ký tự không hợp lệ; Ông/Bà gõ lại thông tin này"),
    (r"must not contain invisible or direction-changing characters", "invisible_characters",
     "có ký tự ẩn hoặc ký tự đảo chiều văn bản; Ông/Bà gõ lại thông tin này, không dán từ "
     "nguồn khác"),
    (r"must not contain control characters", "control_characters",
     "có ký tự điều khiển (không in ra được); Ông/Bà gõ lại thông tin này"),
    (r"must be in Unicode NFC form \(composed characters\)", "not_nfc",
     "có chữ tiếng Việt chưa ở dạng dựng sẵn (Unicode NFC); Ông/Bà gõ lại bằng bộ gõ "
     "Unicode dựng sẵn"),
    (r"must not be empty", "empty", "chỉ có khoảng trắng; Ông/Bà vui lòng điền thông tin"),
    (r"is (\d+) characters long; at most (\d+)", "too_long",
     lambda m: f"dài {m[1]} ký tự, quá {m[2]} ký tự cho phép; Ông/Bà rút gọn lại"),
    (r"does not match the pattern .*", "pattern",
     "không đúng định dạng quy định; Ông/Bà kiểm tra và nhập lại"),
    (r"must be 12 digits", "pid_format",
     "phải gồm đúng 12 chữ số; Ông/Bà kiểm tra lại số định danh cá nhân trên thẻ căn cước"),
    (r"does not start with a province code of birth registration", "pid_province",
     "không phải số định danh cá nhân hợp lệ (ba chữ số đầu không phải mã tỉnh nơi đăng ký "
     "khai sinh); Ông/Bà kiểm tra lại số trên thẻ căn cước"),
    (r"must be a Vietnamese phone number", "phone",
     "không phải số điện thoại Việt Nam; Ông/Bà nhập 10 chữ số bắt đầu bằng 0 (hoặc +84)"),
    (r"must be an email address", "email",
     "không phải địa chỉ thư điện tử; Ông/Bà nhập theo dạng ten@tenmien.vn"),
    (r"is not one of the 34 province codes", "province_code",
     "không phải mã của một trong 34 tỉnh, thành phố; Ông/Bà chọn lại tỉnh, thành phố"),
    (r"must be a 5-digit commune code", "commune_code",
     "phải là mã xã, phường gồm 5 chữ số; Ông/Bà chọn lại xã, phường"),
    (r"must be one of (.*)", "enum",
     lambda m: f"không phải giá trị được chấp nhận; Ông/Bà chọn một trong: {m[1]}"),
    (r"must be a whole number", "not_integer",
     "phải là số nguyên; Ông/Bà nhập lại bằng chữ số"),
    (r"must be a number", "not_number", "phải là số; Ông/Bà nhập lại bằng chữ số"),
    (r"must be true or false", "not_bool",
     "phải là có hoặc không (true/false); Ông/Bà chọn lại"),
    (r"must be an ISO date \(.*\)", "not_date",
     "phải là ngày theo dạng năm-tháng-ngày (YYYY-MM-DD); Ông/Bà nhập lại"),
    (r"must be an ISO datetime \(.*\)", "not_datetime",
     "phải là thời điểm theo dạng năm-tháng-ngàyTgiờ:phút (YYYY-MM-DDTHH:MM); Ông/Bà nhập lại"),
    (r"must be a list", "not_list", "phải là một danh sách; Ông/Bà gửi lại theo đúng mẫu tờ khai"),
    (r"must be a file reference \(text\)", "not_file",
     "phải là tệp đính kèm; Ông/Bà tải tệp lên rồi gửi lại"),
]  # fmt: skip
_COMPILED = [(re.compile(rule), code, words) for rule, code, words in _RULES]
_LINE = re.compile(r"^([A-Za-z_][\w.\[\]]*|data): (.*)$", re.DOTALL)
UNREAD = "không hợp lệ; Ông/Bà kiểm tra và nhập lại"


def titles(schema: Schema, prefix: str = "") -> dict[str, str]:
    """Field path -> title, for `schema` and the objects inside it."""
    found: dict[str, str] = {}
    for name, spec in schema.items():
        if spec.title:
            found[prefix + name] = spec.title
        if spec.fields:
            found |= titles(spec.fields, f"{prefix}{name}.")
    return found


def _title(field: str, known: Mapping[str, str]) -> str | None:
    return known.get(field) or known.get(re.sub(r"\[\d+\]", "", field))


def _rule(field: str, rule: str, known: Mapping[str, str]) -> Problem:
    for pattern, code, words in _COMPILED:
        found = pattern.fullmatch(rule)
        if found:
            message = words if isinstance(words, str) else words(found)
            return Problem(field=field, code=code, title=_title(field, known), message=message)
    log.warning("a dossier problem without Vietnamese words: %s", rule)
    return Problem(field=field, code="invalid", title=_title(field, known), message=UNREAD)


def explain(lines: Iterable[str], known: Mapping[str, str] | None = None) -> list[Problem]:
    """The checker's 'field: rule' lines as problems; `known`: titles by field path."""
    out: list[Problem] = []
    for line in lines:
        found = _LINE.match(line)
        field, rule = (found[1], found[2]) if found else ("", line)
        out.append(_rule("" if field == "data" else field, rule, known or {}))
    return out


def joined(text: str) -> list[str]:
    """The lines of `text`, a refusal that joined the checker's lines with '; ' (a rule
    holding '; ' itself, such as a length's, stays one line)."""
    lines: list[str] = []
    for part in text.split("; "):
        if lines and not _LINE.match(part):
            lines[-1] += "; " + part
        else:
            lines.append(part)
    return lines


def problem(field: str, code: str, message: str, known: Mapping[str, str]) -> Problem:
    return Problem(field=field, code=code, title=_title(field, known), message=message)


def summary(problems: list[Problem], lead: str = "hồ sơ chưa hợp lệ") -> str:
    """One text for all: '<lead>: <title> (<field>): <message>. <title> ...'."""

    def one(p: Problem) -> str:
        where = f"{p.title} ({p.field})" if p.title and p.field else p.title or p.field
        return f"{where}: {p.message}" if where else p.message

    return f"{lead}: " + ". ".join(one(p) for p in problems)


# ---------------------------------------------------------------- a supplement refused

_NOT_WAITING = re.compile(r"step '[^']*' is not waiting for a supplement")
_UNKNOWN = re.compile(r"unknown dossier fields: (.*)")
_NOT_ASKED = re.compile(
    r"a supplement may not change (.*): it was not asked for and is not supplementable "
    r"\(may be sent: (.*)\)"
)


def supplement_refusal(message: str, known: Mapping[str, str]) -> tuple[bool, list[Problem]]:
    """The case's refusal of a supplement (motcua.workflows.case_book.check_supplement) as
    problems; True first when the step was not waiting for one (a conflict, not a
    mistake in what was sent)."""
    if _NOT_WAITING.fullmatch(message):
        words = "bước này không còn chờ Ông/Bà bổ sung hồ sơ; Ông/Bà xem lại trạng thái hồ sơ"
        return True, [problem("step_id", "not_waiting", words, known)]
    found = _UNKNOWN.fullmatch(message)
    if found:
        return False, explain((f"{f}: unknown field" for f in found[1].split(", ")), known)
    found = _NOT_ASKED.fullmatch(message)
    if found:
        allowed = found[2] if found[2] != "nothing" else "không có thông tin nào"
        words = (
            "cán bộ không yêu cầu bổ sung thông tin này và thông tin này không sửa được khi "
            f"bổ sung; Ông/Bà chỉ gửi: {allowed}"
        )
        return False, [problem(f, "not_asked", words, known) for f in found[1].split(", ")]
    return False, explain(joined(message), known)
