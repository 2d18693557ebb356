"""One-stop paperwork, built in: from a definition's `one_stop:` block, the steps that every
procedure repeats (receipt, notices, supplement request, refusal, apology, result notice).

The block says who receives the dossier, who applies, by which channels they are told,
what was received and what the result is:

    one_stop:
      agency: {name: "{{ mother.address.commune_code | agency_title }}", sign_as: commune}
      applicant: {name: "{{ mother.full_name }}", pid: "{{ input.mother_pid }}",
                  email: "{{ mother.email }}", phone: "{{ mother.phone }}"}
      received: [Tờ khai đăng ký khai sinh, "{{ 'Giấy chứng sinh số ' ~ input.no }}"]
      result: {text: "Đã đăng ký khai sinh", document: extract}

and the definition gets, as ordinary steps (so the compiled definition, pinned to each case,
shows exactly what runs, and the workflow has nothing new to interpret):

- after the `set` steps that open `steps`: `one_stop` (puts `agency_name` and `contact` in
  scope), `receipt` (form 01) and `tell_received` (the "received" notice);
- first in `on_supplement` of each task that can request a supplement: `supplement_letter`
  (form 02) and `tell_supplement` (its notice);
- at the end of `on_reject`: `refusal` (form 03) and `tell_rejected` (its notice);
- at the end of `steps`, when `result:` is given: `tell_result` (the result notice, with the
  result document);
- in `apology.steps`: `tell_apology` (the apology with its new date).

A definition overrides a piece by writing a step with the same id itself, and switches one
off by listing its id under `skip:`. Inside a bundle (a member case) the pieces the bundle
sends for the whole dossier are left out at run time (`when: not case.member`): the receipt,
the "received" and refusal notices and the apology. The standard forms and notices are
declared here once (STANDARD_DOCUMENTS, STANDARD_NOTIFICATIONS).

This works on the loaded data, before the models, and keeps every analyst-written step at
its place in the positions (motcua.workflows.dsl.loader.Positions), so a mistake is still
reported at its line; a mistake in a generated step is reported at the `one_stop` key.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from motcua.workflows.dsl.diagnostics import DataPath
from motcua.workflows.dsl.loader import Positions
from motcua.workflows.dsl.raw import holding

KEY = "one_stop"
MEMBER_QUIET = "not case.member"  # pieces the bundle sends for the whole dossier
STANDARD_DOCUMENTS = {
    "receipt": {"title": "Giấy tiếp nhận hồ sơ và hẹn trả kết quả", "template": "receipt"},
    "supplement_request": {
        "title": "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
        "template": "supplement_request",
    },
    "refusal": {"title": "Phiếu từ chối giải quyết hồ sơ", "template": "refusal"},
}
STANDARD_NOTIFICATIONS = {
    "received": {"title": "Tiếp nhận hồ sơ", "template": "received"},
    "supplement_requested": {"title": "Yêu cầu bổ sung hồ sơ", "template": "supplement_requested"},
    "result_ready": {"title": "Có kết quả giải quyết", "template": "result_ready"},
    "rejected": {"title": "Từ chối giải quyết hồ sơ", "template": "rejected"},
    "overdue_apology": {
        "title": "Thư xin lỗi và hẹn lại ngày trả kết quả",
        "template": "overdue_apology",
    },
}
PIECES = (
    "one_stop", "receipt", "tell_received", "supplement_letter", "tell_supplement",
    "refusal", "tell_rejected", "tell_result", "tell_apology",
)  # fmt: skip
# A generated piece whose partner the analyst wrote goes next to it.
PARTNERS = {
    "receipt": ("before", "tell_received"),
    "tell_received": ("after", "receipt"),
    "supplement_letter": ("before", "tell_supplement"),
    "tell_supplement": ("after", "supplement_letter"),
    "refusal": ("before", "tell_rejected"),
    "tell_rejected": ("after", "refusal"),
}
STEP_LISTS = ("steps", "prefill", "on_reject", "on_abort", "on_supplement", "default")


def _ids(value: Any) -> set[str]:
    """Every step id written anywhere in the data."""
    return {step["id"] for _, step in holding(value, "id", str)}


def _tasks(value: Any) -> list[tuple[DataPath, dict[str, Any]]]:
    """(path, step) of every task step, anywhere."""
    return [(p, s) for p, s in holding(value, "task", dict) if isinstance(s.get("id"), str)]


def _documents(value: Any) -> list[dict[str, Any]]:
    """Every `document:` mapping of a step, anywhere."""
    return [step["document"] for _, step in holding(value, "document", dict)]


def _partner(step_id: str) -> tuple[str, str]:
    """("before"/"after", the partner's id) of a piece: `supplement_letter_verify` pairs
    with `tell_supplement_verify`."""
    for base, (side, partner) in PARTNERS.items():
        if step_id == base or step_id.startswith(base + "_"):
            return side, partner + step_id[len(base) :]
    return "", ""


def _link(step_id: str) -> str:
    """The document a notice links: none when its step was skipped (its own `when:`)."""
    return f"{{{{ {step_id}.document_ref if {step_id} is defined and {step_id} else none }}}}"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Expansion:
    def __init__(self, data: dict[str, Any], spec: dict[str, Any]) -> None:
        self.data = data
        self.spec = spec
        skip = spec.get("skip") or []
        self.skip = {str(s) for s in skip} if isinstance(skip, list) else set()
        self.taken = _ids(data)  # ids the analyst wrote: those pieces are theirs
        self.title = spec.get("title") or data.get("title", "")
        quiet = spec.get("quiet") or []
        self.quiet = {str(q) for q in quiet} if isinstance(quiet, list) else set()
        loud = spec.get("member_says") or []
        self.loud = {str(q) for q in loud} if isinstance(loud, list) else set()
        conditions = spec.get("when") or {}
        self.conditions: dict[str, Any] = conditions if isinstance(conditions, dict) else {}
        forms = spec.get("forms") or {}
        self.forms: dict[str, Any] = forms if isinstance(forms, dict) else {}
        agency = _mapping(spec.get("agency"))
        self.sign_as = agency.get("sign_as", data.get("agency", "commune"))
        self.agency_name = agency.get("name", "")
        self.agency_code = agency.get("code")
        self.channels = spec.get("channels", ["email", "sms"])
        # Where each new list index came from: sequence path -> [old index or None].
        self.moved: dict[DataPath, list[int | None]] = {}
        self.problems: list[tuple[DataPath, str, str | None]] = []

    def wanted(self, step_id: str) -> bool:
        return step_id not in self.skip and step_id not in self.taken

    def insert(self, path: DataPath, at: int, steps: list[dict[str, Any]]) -> None:
        """Insert `steps` into the list at `path` (created if absent) before index `at`; a
        piece whose partner the analyst wrote in that list goes next to it instead (the
        notice right after its document, the document right before its notice)."""
        parent: Any = self.data
        for key in path[:-1]:
            parent = parent[key]
        target = parent.setdefault(path[-1], [])
        if not isinstance(target, list) or not steps:
            return
        origin = self.moved.setdefault(path, list(range(len(target))))
        for step in steps:
            if step["id"] in self.quiet:
                step["when"] = MEMBER_QUIET
            elif step["id"] in self.loud:
                step.pop("when", None)
            condition = self.conditions.get(step["id"])
            if isinstance(condition, str):
                step["when"] = (
                    f"({step['when']}) and ({condition})" if "when" in step else condition
                )
            where = at
            side, partner = _partner(step["id"])
            written = [
                i for i, s in enumerate(target) if isinstance(s, dict) and s.get("id") == partner
            ]
            if written and origin[written[0]] is not None:  # the analyst's own
                where = written[0] + (1 if side == "after" else 0)
            else:
                at += 1
            target.insert(where, step)
            origin.insert(where, None)

    def notice(self, step_id: str, template: str, data: dict[str, Any], quiet: bool) -> dict:
        step: dict[str, Any] = {
            "id": step_id,
            "notify": {"to": "{{ contact }}", "template": template, "channels": self.channels},
        }
        step["notify"]["data"] = {"procedure_title": self.title, **data}
        if quiet:
            step["when"] = MEMBER_QUIET
        return step

    def document(self, step_id: str, title: str, template: str, data: dict) -> dict:
        base = {"agency_name": "{{ agency_name }}", "procedure_title": self.title}
        form = self.forms.get(template)
        if isinstance(form, str):  # a form of its own, e.g. "Mẫu CT04" for residence
            form = {"form_no": form}
        if isinstance(form, dict):
            base["form_no"] = str(form.get("form_no", ""))
            title = str(form.get("title") or re.sub(r"\(mẫu \d+\)", f"({base['form_no']})", title))
        return {
            "id": step_id,
            "title": title,
            "document": {"template": template, "sign_as": self.sign_as, "data": base | data},
        }

    # ---------------------------------------------------------------- the pieces

    def reception(self) -> None:
        steps = self.data.get("steps")
        if not isinstance(steps, list):
            return
        opening = 0
        while opening < len(steps) and isinstance(steps[opening], dict) and "set" in steps[opening]:
            opening += 1
        at = opening
        after = self.spec.get("receive_after")
        if isinstance(after, str):
            # Checks that refuse a dossier before it is received (form 03 only, no receipt):
            # the receipt goes after them; `one_stop` stays first, as the refusal needs it.
            found = [i for i, s in enumerate(steps) if isinstance(s, dict) and s.get("id") == after]
            if found:
                at = max(found[0] + 1, opening)
            else:
                written = ", ".join(str(s.get("id")) for s in steps if isinstance(s, dict))
                self.problems.append(
                    ((KEY, "receive_after"), f"no step '{after}' in `steps`", f"steps: {written}")
                )
        applicant = _mapping(self.spec.get("applicant"))
        if self.wanted("one_stop"):
            contact = {
                "full_name": applicant.get("name", ""),
                "pid": applicant.get("pid", ""),
                "email": applicant.get("email"),
                "phone": applicant.get("phone"),
            }
            names = {
                "id": "one_stop",
                "title": "Cơ quan tiếp nhận và người nộp hồ sơ",
                "set": {"agency_name": self.agency_name, "contact": contact},
            }
            self.insert(("steps",), opening, [names])
            at += 1
        pieces: list[dict[str, Any]] = []
        dates = {
            "received_at": "{{ case.received_at | vn_date }}",
            "due_date": "{{ case.due_at | vn_date }}",
        }
        if self.wanted("receipt"):
            data = {
                "applicant_name": "{{ contact.full_name }}",
                "applicant_pid": "{{ contact.pid }}",
                "channel": "{{ case.channel }}",
                **dates,
                "documents": self.spec.get("received", []),
            }
            if self.data.get("code"):
                data["procedure_code"] = self.data["code"]
            if self.spec.get("note"):
                data["note"] = self.spec["note"]
            fields = dict(_mapping(self.spec.get("fields")))
            fee = self.fee_text()
            if fee:
                fields.setdefault("Phí, lệ phí", fee)
            if fields:
                data["fields"] = fields
            receipt = self.document(
                "receipt", "Giấy tiếp nhận hồ sơ và hẹn trả kết quả (mẫu 01)", "receipt", data
            )
            receipt["when"] = MEMBER_QUIET
            pieces.append(receipt)
        if self.wanted("tell_received"):
            data = {"agency_name": "{{ agency_name }}", **dates}
            pieces.append(self.notice("tell_received", "received", data, quiet=True))
        self.insert(("steps",), at, pieces)

    def fee_text(self) -> str | None:
        """The fee on the receipt when it depends on the dossier: a fee per unit (its total
        and how it was counted), or `fee.total`."""
        fee = _mapping(self.data.get("fee"))
        if isinstance(fee.get("total"), str):
            return f"{{{{ ({fee['total']}) | vnd }}}}"
        per, count, amount = fee.get("per"), fee.get("count"), fee.get("amount")
        if not (per and count and amount):
            return None
        # The amount may still be `params.x`: the case has its parameters in scope.
        each = f"({amount})"
        return (
            f"{{{{ ({each} * ({count})) | vnd }}}} "
            f"({{{{ {each} | vnd }}}}/{per} × {{{{ {count} }}}} {per})"
        )

    def supplements(self) -> None:
        tasks = _tasks(self.data)
        first = True
        for path, step in tasks:
            task = step["task"]
            actions = task.get("actions")
            if not isinstance(actions, list) or "request_supplement" not in actions:
                continue
            suffix = "" if first else f"_{step['id']}"
            first = False
            letter_id, notice_id = f"supplement_letter{suffix}", f"tell_supplement{suffix}"
            pieces: list[dict[str, Any]] = []
            decision = step["id"]
            if self.wanted(letter_id):
                data = {
                    "applicant_name": "{{ contact.full_name }}",
                    "received_at": "{{ case.received_at | vn_date }}",
                    "missing": f"{{{{ {decision}.missing }}}}",
                    "reason": f"{{{{ {decision}.comment or '' }}}}",
                    "due_date": "{{ supplement_due_at | vn_date }}",
                }
                title = "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (mẫu 02)"
                pieces.append(self.document(letter_id, title, "supplement_request", data))
            if self.wanted(notice_id):
                data = {
                    "agency_name": "{{ agency_name }}",
                    "reason": f"{{{{ {decision}.missing | join('; ') }}}}",
                    "due_date": "{{ supplement_due_at | vn_date }}",
                }
                if letter_id not in self.skip:  # generated, or the analyst's own
                    data["document"] = _link(letter_id)
                pieces.append(self.notice(notice_id, "supplement_requested", data, quiet=False))
            self.insert((*path, "task", "on_supplement"), 0, pieces)

    def refusal(self) -> None:
        pieces: list[dict[str, Any]] = []
        if self.wanted("refusal"):
            data = {
                "applicant_name": "{{ contact.full_name }}",
                "received_at": "{{ case.received_at | vn_date }}",
                "reason": "{{ reason }}",
            }
            title = "Phiếu từ chối giải quyết hồ sơ (mẫu 03)"
            pieces.append(self.document("refusal", title, "refusal", data))
        if self.wanted("tell_rejected"):
            data = {"reason": "{{ reason }}"}
            if "refusal" not in self.skip:  # generated, or the analyst's own
                data["document"] = _link("refusal")
            pieces.append(self.notice("tell_rejected", "rejected", data, quiet=True))
        end = self.data.get("on_reject")
        self.insert(("on_reject",), len(end) if isinstance(end, list) else 0, pieces)

    def result(self) -> None:
        result = self.spec.get("result")
        steps = self.data.get("steps")
        if not isinstance(result, dict) or not self.wanted("tell_result"):
            return
        data: dict[str, Any] = {"result": result.get("text", "")}
        if result.get("pickup"):
            data["pickup"] = result["pickup"]
        if result.get("document"):
            data["document"] = f"{{{{ {result['document']}.document_ref }}}}"
        notice = self.notice("tell_result", "result_ready", data, quiet=False)
        notice["title"] = "Báo có kết quả"
        self.insert(("steps",), len(steps) if isinstance(steps, list) else 0, [notice])

    def apology(self) -> None:
        apology = self.data.get("apology")
        if not isinstance(apology, dict) or not self.wanted("tell_apology"):
            return
        data = {
            "agency_name": "{{ agency_name }}",
            "due_date": "{{ case.due_at | vn_date }}",
            "new_due_date": "{{ case.new_due_at | vn_date }}",
        }
        if self.spec.get("apology_reason"):
            data["reason"] = self.spec["apology_reason"]
        steps = apology.get("steps")
        at = len(steps) if isinstance(steps, list) else 0
        self.insert(
            ("apology", "steps"), at, [self.notice("tell_apology", "overdue_apology", data, True)]
        )

    def task_agencies(self) -> None:
        """A task without an `agency` is decided by the receiving agency (`agency.code`)."""
        if self.agency_code is None:
            return
        for _, step in _tasks(self.data):
            step["task"].setdefault("agency", self.agency_code)

    def declarations(self) -> None:
        """The standard forms and notices, and each document a step issues (by its title):
        declared here, so a definition declares only what it wants said differently."""
        issued = dict(STANDARD_DOCUMENTS)
        for doc in _documents(self.data.get("steps")):
            template = doc.get("template")
            if isinstance(template, str) and isinstance(doc.get("title"), str):
                issued.setdefault(template, {"title": doc["title"], "template": template})
        for key, standard in (("documents", issued), ("notifications", STANDARD_NOTIFICATIONS)):
            declared = self.data.setdefault(key, {})
            if isinstance(declared, dict):
                for name, decl in standard.items():
                    declared.setdefault(name, dict(decl))


def expand(
    data: Any, positions: Positions | None = None
) -> tuple[Any, Positions | None, list[tuple[DataPath, str, str | None]]]:
    """The definition with its one-stop paperwork as steps, the positions moved to match
    (generated steps are placed at the `one_stop` key), and the problems as (path, message,
    hint). Data without a `one_stop` mapping is returned as it is."""
    if not isinstance(data, dict) or not isinstance(data.get(KEY), dict):
        return data, positions, []
    data = copy.deepcopy(data)
    work = _Expansion(data, data[KEY])
    for piece in (
        work.task_agencies, work.reception, work.supplements, work.refusal,
        work.result, work.apology, work.declarations,
    ):  # fmt: skip
        piece()
    if positions is None:
        return data, None, work.problems
    return data, _moved(positions, work.moved, positions.key_at((KEY,))), work.problems


def _moved(
    positions: Positions, moved: dict[DataPath, list[int | None]], generated_at: tuple[int, int]
) -> Positions:
    """Positions for the expanded data: each analyst-written path where it was written."""

    def translate(path: DataPath) -> DataPath:
        # Map old indices to new ones, outermost first.
        out: list[Any] = []
        for elem in path:
            seq = tuple(out)
            origin = moved.get(seq)
            if origin is not None and isinstance(elem, int):
                out.append(origin.index(elem) if elem in origin else elem)
            else:
                out.append(elem)
        return tuple(out)

    result = Positions()
    for path, at in positions.items():
        result[translate(path)] = at
    for path, at in positions.key_positions.items():
        result.key_positions[translate(path)] = at
    for seq, origin in moved.items():
        for new_index, old in enumerate(origin):
            if old is None:
                result.setdefault((*seq, new_index), generated_at)
        result.setdefault(seq, generated_at)
    return result
