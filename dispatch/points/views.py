from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlmodel import Session, col, select

from dispatch.auth.deps import STAFF, get_session, require
from dispatch.points import service
from dispatch.points.models import Point, PointIn, PointOut
from dispatch.qrcodes import service as qrcodes
from qr import codes

router = APIRouter(prefix="/api/points", tags=["points"])


def _pdf(data: bytes, filename: str, disposition: str = "inline") -> Response:
    headers = {"Content-Disposition": f'{disposition}; filename="{filename}"'}
    return Response(data, media_type="application/pdf", headers=headers)


@router.post("", status_code=201, response_model=PointOut, dependencies=[Depends(require("operator"))])
def create_point(body: PointIn, session: Session = Depends(get_session)) -> dict:
    point = service.create(session, body)
    session.commit()
    return service.view(point)


@router.get("", response_model=list[PointOut], dependencies=[Depends(require(*STAFF))])
def list_points(
    village_code: str | None = None, town_code: str | None = None, session: Session = Depends(get_session)
) -> list[dict]:
    stmt = select(Point)
    if village_code:
        stmt = stmt.where(Point.village_code == village_code)
    if town_code:
        stmt = stmt.where(Point.town_code == town_code)
    return [service.view(p) for p in session.exec(stmt.order_by(col(Point.id))).all()]


@router.get(
    "/posters.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    dependencies=[Depends(require("operator"))],
)
def town_posters(town_code: str, session: Session = Depends(get_session)) -> Response:
    """All active points of a town, one A4 poster per page, in one PDF."""
    pdf = qrcodes.posters_pdf(session, qrcodes.town_points(session, town_code))
    return _pdf(pdf, f"posters-{town_code}.pdf", "attachment")  # a print job, not a preview


@router.get("/{point_id}", response_model=PointOut, dependencies=[Depends(require(*STAFF))])
def get_point(point_id: int, session: Session = Depends(get_session)) -> dict:
    return service.view(service.get(session, point_id))


@router.post("/{point_id}/revoke", response_model=PointOut, dependencies=[Depends(require("operator"))])
def revoke_point(point_id: int, session: Session = Depends(get_session)) -> dict:
    point = service.revoke(session, service.get(session, point_id))
    session.commit()
    return service.view(point)


@router.post("/{point_id}/rotate", response_model=PointOut, dependencies=[Depends(require("operator"))])
def rotate_point(point_id: int, session: Session = Depends(get_session)) -> dict:
    """A new QR token; the old one is kept as replaced (its page answers 410 and says where to go)."""
    point = service.rotate(session, service.get(session, point_id))
    session.commit()
    return service.view(point)


@router.get(
    "/{point_id}/poster.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    dependencies=[Depends(require("operator"))],
)
def point_poster(point_id: int, session: Session = Depends(get_session)) -> Response:
    point = service.get(session, point_id)
    return _pdf(qrcodes.posters_pdf(session, [point]), f"poster-point-{point.id}.pdf")


@router.get("/{point_id}/qr.png", dependencies=[Depends(require(*STAFF))])
def point_qr_png(point_id: int, session: Session = Depends(get_session)) -> Response:
    point = service.get(session, point_id)
    return Response(codes.png(service.qr_url(point)), media_type="image/png")


@router.get("/{point_id}/qr.svg", dependencies=[Depends(require(*STAFF))])
def point_qr_svg(point_id: int, session: Session = Depends(get_session)) -> Response:
    point = service.get(session, point_id)
    return Response(codes.svg(service.qr_url(point)), media_type="image/svg+xml")
