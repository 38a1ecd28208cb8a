from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from sqlmodel import Session

from dispatch.auth.deps import STAFF, get_session, require
from dispatch.regions import service
from dispatch.regions.models import RegionOut

router = APIRouter(prefix="/api/regions", tags=["regions"])


@router.get("", response_model=list[RegionOut], dependencies=[Depends(require(*STAFF, "member"))])
def list_regions(
    level: Literal["district", "town", "village"] | None = None,
    parent_code: str | None = None,
    session: Session = Depends(get_session),
) -> list:
    return service.search(session, level, parent_code)


@router.get("/geojson")
def region_boundaries() -> dict:
    """District outline and town areas (GeoJSON); public reference data, cached by browsers for a day."""
    from fastapi.responses import JSONResponse

    return JSONResponse(service.boundaries(), headers={"Cache-Control": "public, max-age=86400"})  # type: ignore[return-value]  # FastAPI: `-> dict` gives the schema
