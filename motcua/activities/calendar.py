"""Placeholder: filled in by its own change."""

from typing import Any

ACTIVITIES: list[Any] = []
