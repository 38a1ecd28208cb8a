"""The channel adapters: each turns its input into ``cases.service.create`` and commits before answering."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.cases import service as cases
from dispatch.cases.models import Case
from dispatch.cases.service import NewAttachment, NewCase
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.dispatching.service import try_offer_next
from dispatch.errors import AppError
from dispatch.intake.mailparse import ParsedMail
from dispatch.intake.models import Mailbox
from dispatch.points.models import Point
from dispatch.regions import reference


def submit(new: NewCase) -> tuple[Case, str | None, bool]:
    """Create, dispatch and commit one case. Returns (case, secret, created).

    With an ``external_id`` already known for the channel, returns that case and ``created=False`` — also
    when concurrent re-sends race (the unique constraint decides; the losers read the winner's case).
    """
    with Session(get_engine(), expire_on_commit=False) as session:
        if new.external_id:
            existing = cases.by_external_id(session, new.channel, new.external_id)
            if existing is not None:
                return existing, None, False
        try:
            case, secret = cases.create(session, new)
            try_offer_next(session, case)
            session.commit()
        except IntegrityError:
            session.rollback()
            if not new.external_id:
                raise
            existing = cases.by_external_id(session, new.channel, new.external_id)
            if existing is None:
                raise
            return existing, None, False
        return case, secret, True


def find_mailbox(session: Session, mail: ParsedMail) -> Mailbox | None:
    """The mailbox a mail was written to (To/Cc/Delivered-To), else the one it was forwarded from."""
    addresses = [a.lower() for a in mail.recipients]
    if mail.sender:
        addresses.append(mail.sender.lower())
    if not addresses:
        return None
    found = {m.address: m for m in session.exec(select(Mailbox).where(col(Mailbox.address).in_(addresses)))}
    for address in addresses:
        if address in found:
            return found[address]
    return None


def mail_case(mail: ParsedMail, actor: str) -> NewCase:
    with Session(get_engine()) as session:
        mailbox = find_mailbox(session, mail)
    text = mail.text.strip() or mail.subject or "(无正文 / no text)"
    town, village = reference.match_address(f"{mail.subject}\n{text}")
    address = None
    if village:
        address = reference.by_code(village)["name"]
    return NewCase(
        channel="mail",
        content=text,
        title=(mail.subject or None) and mail.subject[:256],
        actor=actor,
        external_id=mail.message_id[:128] if mail.message_id else None,
        reporter_name=mail.sender_name[:64] if mail.sender_name else None,  # the columns' widths
        reporter_email=mail.sender if mail.sender and len(mail.sender) <= 128 else None,
        address=address,
        received_at=mail.date,
        mailbox_id=mailbox.id if mailbox else None,
        town_code=town if not village else None,
        attachments=[NewAttachment(a.filename, a.content_type, a.data) for a in mail.attachments],
    )


MAX_PHOTOS = 3
IMAGE_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}


def check_photo_count(n: int) -> None:
    if n > MAX_PHOTOS:
        raise AppError("too_many_photos", "最多上传 3 张照片", "At most 3 photos", status=422, count=n)


def photo(filename: str, data: bytes) -> NewAttachment:
    """A resident's photo: bounded in size, and an image by its bytes, whatever its name claims."""
    limit = get_settings().max_photo_bytes
    if len(data) > limit:
        mb = limit // 1048576
        raise AppError(
            "photo_too_large", f"照片不能超过 {mb} MB", f"A photo may be at most {mb} MB", status=413, filename=filename
        )
    kind = next((t for magic, t in IMAGE_MAGIC.items() if data.startswith(magic)), None)
    if kind is None or (kind == "image/webp" and data[8:12] != b"WEBP"):
        raise AppError(
            "unsupported_photo",
            "只接受 JPEG、PNG、GIF、WebP 照片",
            "Photos must be JPEG, PNG, GIF or WebP",
            status=415,
            filename=filename,
        )
    return NewAttachment(filename[:255], kind, data)


def qr_case(
    point: Point,
    content: str,
    category: str,
    lat: float | None,
    lon: float | None,
    coord_system: str,
    name: str | None,
    phone: str | None,
    photos: list[tuple[str, bytes]],
) -> NewCase:
    """A case at a point: located by the phone's GPS when shared, else at the point (and its village)."""
    check_photo_count(len(photos))
    attachments = [photo(filename, data) for filename, data in photos]
    town = village = None
    if lat is None and lon is None:  # half a location is refused by the case's validation
        lat, lon, coord_system = point.lat, point.lon, "wgs84"
        town, village = point.town_code, point.village_code
    return NewCase(
        channel="qr",
        content=content,
        category=category,
        actor="resident",
        reporter_name=name or None,
        reporter_phone=phone or None,
        lat=lat,
        lon=lon,
        coord_system=coord_system,
        point_id=point.id,
        town_code=town,
        village_code=village,
        attachments=attachments,
    )
