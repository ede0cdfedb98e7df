"""``GET /healthz``: the process is up and serving; it touches neither the database nor a lock.

Load balancers and supervisors poll it, and the ingestion benchmark uses it as the bare endpoint
that does no work, the baseline every other request rate is measured against.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
