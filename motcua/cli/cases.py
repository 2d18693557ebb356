"""Placeholder: filled in by its own change."""

from typing import Any

COMMANDS: list[Any] = []
