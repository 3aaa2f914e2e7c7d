"""Routes (skeleton; filled in by its domain's work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
org_router = APIRouter(prefix="/v1/orgs/{org_id}/keys", tags=["org keys"])
