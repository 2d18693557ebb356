"""What YAML can `call`, without importing the activities: their names and `with:` keys.

The validator needs no more than this: which activity names exist, and which arguments each
takes, in order, and which of them are required. Importing the activities themselves
(motcua.activities.registry) pulls in SQLAlchemy, holidays, httpx and Temporal, seconds of
start-up for `motcua validate`. So the table is written out here, and
tests/test_cli_startup.py checks that it equals what the registry derives from the code: a
new activity, or a changed argument, fails that test until the table follows.

An entry lists the argument keys (a field's alias, else its name) of the activity's input
model, without the fields the workflow fills in itself; a key ending in `?` is optional.
None means the activity takes no pydantic model, so its arguments are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol


class Argument(NamedTuple):
    key: str  # as written under `with:`
    required: bool


class Signature(Protocol):
    """What the validator reads of an activity (an ActivitySpec of the registry has it too)."""

    @property
    def arguments(self) -> tuple[Argument, ...] | None: ...


@dataclass(frozen=True)
class Declared:
    name: str
    arguments: tuple[Argument, ...] | None


ACTIVITIES: dict[str, tuple[str, ...] | None] = {
    "calendar.add_working_days": ("start", "working_days", "cutoff?"),
    "calendar.working_days_between": ("start", "end"),
    "documents.issue": ("template", "sign_as", "title?", "data?"),
    "notify.send": ("to", "template", "channels?", "data?"),
    "register.write": ("book", "entry"),
    "register.void": ("book", "of_key", "reason"),
    "register.get": ("book", "entry_no"),
    "population.get_citizen": ("pid",),
    "population.get_household": ("household_id",),
    "civil_status.register_birth": (
        "birth_certificate_no",
        "child",
        "mother_pid",
        "father_pid?",
        "commune_code",
    ),
    "civil_status.register_death": (
        "pid",
        "death_date",
        "place_of_death",
        "death_notice_no?",
        "commune_code",
    ),
    "civil_status.register_marriage": ("husband_pid", "wife_pid", "commune_code"),
    "civil_status.get_registration": ("registration_no",),
    "civil_status.cancel_registration": ("registration_no", "reason"),
    "residence.register_permanent": ("pid", "household_id?", "address", "relation_to_head"),
    "residence.deregister_permanent": ("pid", "reason"),
    "residence.get_person": ("pid",),
    "residence.cancel_registration": ("residence_no", "reason"),
    "social_insurance.issue_child_card": ("child_pid", "primary_care_facility", "province_code"),
    "social_insurance.claim_funeral": ("deceased_pid", "claimant_pid", "kind"),
    "social_insurance.get_card": ("card_no",),
    "social_insurance.revoke_card": ("card_no", "reason"),
    "health.get_birth_certificate": ("certificate_no",),
    "health.get_death_notice": ("notice_no",),
}


def _argument(entry: str) -> Argument:
    return Argument(entry.removesuffix("?"), not entry.endswith("?"))


def catalogue() -> dict[str, Declared]:
    """Name -> signature of every product activity, as declared in ACTIVITIES."""
    return {
        name: Declared(name, None if keys is None else tuple(map(_argument, keys)))
        for name, keys in ACTIVITIES.items()
    }
