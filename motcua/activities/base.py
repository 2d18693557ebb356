"""What every activity that YAML can `call` takes in.

The workflow always fills `idempotency_key` (case + step) and `dossier_code`, so a write
repeated after a crash or a retry is recognised by its target and applied once.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ActivityInput(BaseModel):
    # Unknown `with:` keys are refused by the validator before a case starts, and by this
    # model if one ever slips through.
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = ""
    dossier_code: str = ""


# Fields the workflow adds itself; an analyst never writes them in `with:`.
IMPLICIT_FIELDS = frozenset(ActivityInput.model_fields)
