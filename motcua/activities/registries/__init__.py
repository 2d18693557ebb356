"""Typed adapters for the state registries (docs/sandbox-api.md is their HTTP contract).

One module per registry; `http` holds the shared client and the error mapping.
"""

from __future__ import annotations

from typing import Any

from motcua.activities.registries import (
    civil_status,
    health,
    population,
    residence,
    social_insurance,
)

ACTIVITIES: list[Any] = [
    *population.ACTIVITIES,
    *civil_status.ACTIVITIES,
    *residence.ACTIVITIES,
    *social_insurance.ACTIVITIES,
    *health.ACTIVITIES,
]
