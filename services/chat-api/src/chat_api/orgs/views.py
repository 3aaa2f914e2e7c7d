"""Routes (skeleton; filled in by its domain's work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
