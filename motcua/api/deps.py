"""Dependencies shared by the routers: the Temporal client the app holds.

Identity (who is calling, with which role) lives in `motcua.api.identity`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from temporalio.client import Client


def temporal_client(request: Request) -> Client:
    """The app's Temporal client, connected at start-up (503 while it is not)."""
    client: Client | None = getattr(request.app.state, "temporal", None)
    if client is None:
        raise HTTPException(503, "Temporal is not reachable yet; try again shortly")
    return client


TemporalClient = Annotated[Client, Depends(temporal_client)]
