"""Runtime settings from the environment, with embedded defaults for one machine.

Nothing here assumes the sandbox: every outside service is a URL or host that an operator
points at the real registry, SMTP relay or gateway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Registries and gateways the activities call, by the name used in activity names.
REGISTRIES = (
    "population",
    "civil_status",
    "residence",
    "social_insurance",
    "health",
    "gateways",
)


@dataclass(frozen=True)
class Settings:
    temporal_address: str
    temporal_namespace: str
    task_queue: str
    data_dir: Path
    procedure_dir: Path
    database_url: str
    sandbox_url: str
    registry_urls: dict[str, str]
    smtp_host: str
    smtp_port: int
    smtp_sender: str
    public_url: str

    def registry_url(self, name: str) -> str:
        return self.registry_urls[name]


def get_settings() -> Settings:
    """Read settings now (never at import time, so tests can set the environment first).

    Each registry's base URL is MOTCUA_<NAME>_URL (e.g. MOTCUA_POPULATION_URL), defaulting to
    the sandbox's mount point for it: MOTCUA_SANDBOX_URL + "/" + name with '-' for '_'.
    """
    env = os.environ
    data_dir = Path(env.get("MOTCUA_DATA_DIR", ROOT / ".data"))
    sandbox = env.get("MOTCUA_SANDBOX_URL", "http://127.0.0.1:8100").rstrip("/")
    registry_urls = {
        name: env.get(f"MOTCUA_{name.upper()}_URL", f"{sandbox}/{name.replace('_', '-')}")
        for name in REGISTRIES
    }
    return Settings(
        temporal_address=env.get("TEMPORAL_ADDRESS", "localhost:7233"),
        temporal_namespace=env.get("TEMPORAL_NAMESPACE", "default"),
        task_queue=env.get("MOTCUA_TASK_QUEUE", "motcua"),
        data_dir=data_dir,
        procedure_dir=Path(env.get("MOTCUA_PROCEDURE_DIR", ROOT / "procedure_defs")),
        database_url=env.get("DATABASE_URL", f"sqlite:///{data_dir / 'motcua.db'}"),
        sandbox_url=sandbox,
        registry_urls=registry_urls,
        smtp_host=env.get("MOTCUA_SMTP_HOST", "127.0.0.1"),
        smtp_port=int(env.get("MOTCUA_SMTP_PORT", "8025")),
        smtp_sender=env.get("MOTCUA_SMTP_SENDER", "Một cửa điện tử <khong-tra-loi@motcua.gov.vn>"),
        public_url=env.get("MOTCUA_PUBLIC_URL", "http://localhost:8000").rstrip("/"),
    )
