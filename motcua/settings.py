"""Runtime settings from the environment, with embedded defaults for one machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    temporal_address: str
    temporal_namespace: str
    task_queue: str
    data_dir: Path
    procedure_dir: Path
    database_url: str


def get_settings() -> Settings:
    """Read settings now (never at import time, so tests can set the environment first)."""
    data_dir = Path(os.environ.get("MOTCUA_DATA_DIR", ROOT / ".data"))
    return Settings(
        temporal_address=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
        temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
        task_queue=os.environ.get("MOTCUA_TASK_QUEUE", "motcua"),
        data_dir=data_dir,
        procedure_dir=Path(os.environ.get("MOTCUA_PROCEDURE_DIR", ROOT / "procedure_defs")),
        database_url=os.environ.get("DATABASE_URL", f"sqlite:///{data_dir / 'motcua.db'}"),
    )
