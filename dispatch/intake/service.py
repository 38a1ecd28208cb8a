"""The channel adapters: each turns its input into a ``NewCase`` for ``submit``, which commits before answering."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast, get_args

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.cases import files, handling, states
from dispatch.cases import service as cases
from dispatch.cases.models import Case, Channel
from dispatch.cases.service import NewAttachment, NewCase
from dispatch.cases.states import OPEN_STATUSES
from dispatch.config import get_settings
from dispatch.db import get_engine, utcnow
from dispatch.dispatching.service import offer_many
from dispatch.errors import AppError, database_unavailable
from dispatch.infra import groupcommit
from dispatch.intake.mailparse import Attachment as MailAttachment
from dispatch.intake.mailparse import ParsedMail
from dispatch.intake.models import HotlineOrder, Mailbox
from dispatch.observability import metrics
from dispatch.points.models import Point
from dispatch.regions import reference

log = logging.getLogger(__name__)
metrics.show_channels(get_args(Channel))


OnCreated = Callable[[Session, Case], bool]
MAX_BATCH = 64


class _Pending(groupcommit.Waiting):
    """One intake waiting for its group's commit."""

    __slots__ = ("new", "on_created", "draft")

    def __init__(self, new: NewCase, on_created: OnCreated | None) -> None:
        super().__init__()
        self.new, self.on_created = new, on_created
        self.draft: cases.Draft | None = None


# Group commit (``infra.groupcommit``): the intakes waiting at one moment are written in one transaction, one
# look-up of known external ids, each case checked (``cases.prepare``), then all written together
# (``cases.insert``, ``dispatching.offer_many``: one statement per table), one commit, one relay pass, one
# hotspot request. The writer is looked up at each group, so a test can hold it (``tests/conftest.py``).
_group: groupcommit.GroupCommit[_Pending] = groupcommit.GroupCommit(
    lambda batch: _write_group(batch), name="intake-writer", max_batch=MAX_BATCH
)


def submit(new: NewCase, on_created: OnCreated | None = None) -> tuple[Case, str | None, bool]:
    """Create, dispatch and commit one case (in a group commit with the intakes arriving at the same moment).

    Returns (case, secret, created). With an ``external_id`` already known for the channel, returns that case
    and ``created=False`` — also when concurrent re-sends race (the unique constraint decides; the losers read
    the winner's case). ``on_created(session, case)`` runs in the creating transaction; it returns whether to
    dispatch.
    """
    return _group.run(_Pending(new, on_created))


async def submit_async(new: NewCase, on_created: OnCreated | None = None) -> tuple[Case, str | None, bool]:
    """``submit`` for a coroutine: it waits for its group without holding a thread."""
    return await _group.run_async(_Pending(new, on_created))


def _write_group(batch: list[_Pending]) -> None:
    """Write ``batch`` in one transaction; on a database error, each intake again on its own — unless the
    database is unavailable: then every caller of the group gets that error (a 503) at once, instead of
    each waiting for its own failed attempt."""
    try:
        _write_together(batch)
    except Exception as exc:
        if len(batch) == 1 or database_unavailable(exc):
            for item in batch:
                item.result, item.error = None, exc
            return
        log.info("group of %d intakes rolled back (%s); writing them one by one", len(batch), exc)
        for item in batch:
            item.result = item.error = None
            _write_group([item])


def _write_together(batch: list[_Pending]) -> None:
    """Every intake of ``batch`` checked first (a refused one writes nothing), then written together: the
    cases, their 'created' trail, then their dispatch, one statement per table; one commit."""
    alone = len(batch) == 1
    with Session(get_engine(), expire_on_commit=False) as session:
        known = _known_external_ids(session, [item.new for item in batch])
        fresh: list[_Pending] = []
        firsts: dict[tuple[str, str], _Pending] = {}
        resent: list[tuple[_Pending, _Pending]] = []  # a re-send in the same group gets the first one's case
        for item in batch:
            new = item.new
            key = (new.channel, new.external_id) if new.external_id else None
            if key in known:
                item.result = (known[key], None, False)
            elif key in firsts:
                resent.append((item, firsts[key]))
            else:
                try:
                    item.draft = cases.prepare(session, new)
                except AppError as exc:
                    if alone:
                        raise
                    item.error = exc  # refused: the others go on
                    continue
                fresh.append(item)
                if key:
                    firsts[key] = item
        try:
            drafts = [cast(cases.Draft, item.draft) for item in fresh]  # fresh: each one prepared
            cases.insert(session, drafts)
            dispatch = [
                d.case
                for i, d in zip(fresh, drafts, strict=True)
                if i.on_created is None or i.on_created(session, d.case)
            ]
            if session.new or session.dirty:
                session.flush()  # what on_created added comes before the dispatch's trail
            offer_many(session, dispatch, defer=True, fresh=True)
            session.commit()
        except IntegrityError:
            # the unique external id: a re-send racing in another process won; alone, read its case
            session.rollback()
            new = batch[0].new
            if not alone or not new.external_id:
                raise
            existing = cases.by_external_id(session, new.channel, new.external_id)
            if existing is None:
                raise
            batch[0].result = (existing, None, False)
            fresh = []
    for item in fresh:
        assert item.draft is not None  # fresh: prepared
        item.result = (item.draft.case, item.draft.secret, True)
    for item, first in resent:
        if first.error is not None:
            item.error = first.error
        else:
            assert first.result is not None  # no error: it was created, above
            item.result = (first.result[0], None, False)
    for item in batch:
        if item.result is not None:
            metrics.intake(item.new.channel, created=item.result[2])  # counted once committed


def _known_external_ids(session: Session, news: list[NewCase]) -> dict[tuple[str, str], Case]:
    """The cases already made for these (channel, external_id) pairs, in one query per channel."""
    wanted: dict[str, set[str]] = {}
    for new in news:
        if new.external_id:
            wanted.setdefault(new.channel, set()).add(new.external_id)
    found: dict[tuple[str, str], Case] = {}
    for channel, ids in wanted.items():
        for case in session.exec(
            select(Case).where(Case.channel == channel, col(Case.external_id).in_(sorted(ids)))
        ).all():
            assert case.external_id is not None  # matched by the query
            found[(channel, case.external_id)] = case
    return found


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
        region = reference.by_code(village)
        assert region is not None  # match_address names known villages
        address = region["name"]
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
        attachments=[mail_attachment(a) for a in mail.attachments],
    )


def mail_attachment(a: MailAttachment) -> NewAttachment:
    """A mailed file: an image (by its decoded bytes, whatever its name or declared type) re-encoded as a QR
    photo is; anything else, or an image Pillow refuses (undecodable, too large, too many pixels), kept as
    sent but as a file: a download only, with a type its bytes confirm. Kept rather than dropped: it is the
    resident's evidence, and a download cannot run in our origin; one bad file does not refuse the mail."""
    try:
        return photo(a.filename, a.data)
    except AppError:
        return NewAttachment(a.filename, files.file_type(a.content_type, a.filename, a.data), a.data)


MAX_PHOTOS = 3
PHOTO_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}


def check_photo_count(n: int) -> None:
    if n > MAX_PHOTOS:
        raise AppError("too_many_photos", "最多上传 3 张照片", "At most 3 photos", status=422, count=n)


def _unsupported(filename: str) -> AppError:
    return AppError(
        "unsupported_photo",
        "只接受 JPEG、PNG、GIF、WebP 照片",
        "Photos must be JPEG, PNG, GIF or WebP",
        status=415,
        filename=filename,
    )


def _gps(exif) -> tuple[float, float] | None:
    """Decimal degrees (WGS-84, as GPS receivers write) from EXIF GPSInfo, or None."""
    from PIL import ExifTags

    try:
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        if not info or 2 not in info or 4 not in info:
            return None

        def degrees(dms, ref) -> float:
            d, m, sec = (float(x) for x in dms)
            value = d + m / 60 + sec / 3600
            return -value if str(ref).upper().startswith(("S", "W")) else value

        lat, lon = degrees(info[2], info.get(1, "N")), degrees(info[4], info.get(3, "E"))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return round(lat, 7), round(lon, 7)


def read_photo(filename: str, data: bytes) -> tuple[NewAttachment, tuple[float, float] | None]:
    """A resident's photo, decoded and re-encoded: bounded in bytes and pixels, an image by its content
    (only the JPEG, PNG, GIF and WebP decoders are tried), turned upright by its EXIF orientation, and stored
    as JPEG or PNG without EXIF or other metadata (the GPS position it carried is returned first, WGS-84
    decimal degrees). The one image rule: QR photos, handling photos and mailed images all come through here;
    what it refuses raises ``AppError`` (413/415) and is never stored as an image."""
    from io import BytesIO

    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = get_settings().max_photo_bytes
    if len(data) > limit:
        mb = limit // 1048576
        raise AppError(
            "photo_too_large", f"照片不能超过 {mb} MB", f"A photo may be at most {mb} MB", status=413, filename=filename
        )
    max_pixels = get_settings().max_image_pixels
    try:
        with Image.open(BytesIO(data), formats=sorted(PHOTO_FORMATS)) as img:  # lazy: reads the header only
            if img.format not in PHOTO_FORMATS:
                raise _unsupported(filename)
            width, height = img.size
            if width * height > max_pixels:
                raise Image.DecompressionBombError(f"{width}x{height}")
            gps = _gps(img.getexif())
            img.load()
            upright = ImageOps.exif_transpose(img)
            keep_png = img.format != "JPEG" and (upright.mode in ("RGBA", "LA", "P", "PA") or img.format == "PNG")
            out = BytesIO()
            if keep_png:
                frame = upright if upright.mode in ("RGB", "RGBA", "L", "LA", "P") else upright.convert("RGBA")
                frame.save(out, "PNG", optimize=False)
                kind, ext = "image/png", ".png"
            else:
                frame = upright if upright.mode in ("RGB", "L") else upright.convert("RGB")
                frame.save(out, "JPEG", quality=85)
                kind, ext = "image/jpeg", ".jpg"
    except Image.DecompressionBombError as exc:
        raise AppError(
            "photo_too_many_pixels",
            "照片像素过多",
            "The photo has too many pixels",
            status=413,
            filename=filename,
            max_pixels=max_pixels,
        ) from exc
    except AppError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _unsupported(filename) from exc
    except Exception as exc:  # noqa: BLE001 - hostile bytes can trip any decoder path: not a photo, never a 500
        log.info("photo %r refused by the decoder: %r", filename, exc)
        raise _unsupported(filename) from exc
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return NewAttachment((stem or "photo")[: 255 - len(ext)] + ext, kind, out.getvalue()), gps


def photo(filename: str, data: bytes) -> NewAttachment:
    """A photo re-encoded as ``read_photo`` does, without its position."""
    return read_photo(filename, data)[0]


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
    """A case at a point: located by the phone's GPS when shared, else a photo's EXIF GPS, else at the point."""
    check_photo_count(len(photos))
    read = [read_photo(filename, data) for filename, data in photos]
    attachments = [attachment for attachment, _ in read]
    gps = next((position for _, position in read if position), None)
    town = village = None
    if lat is None and lon is None and gps:  # the resident shared no position: the photo's GPS, if any
        (lat, lon), coord_system = gps, "wgs84"
    elif lat is None and lon is None:  # half a location is refused by the case's validation
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


# ---- the 12345 feed: revisions and closing ------------------------------------------------------------


def plain_first(version: int, platform_status: str) -> bool:
    """A work order's plain first message (revision 0, open): nothing more than an intake (``submit``)."""
    return version == 0 and platform_status == "open"


def submit_hotline(new: NewCase, version: int = 0, platform_status: str = "open") -> tuple[Case, bool]:
    """A work order from the 12345 feed, idempotent by ``external_id`` and safe against reordering.

    The first message of a work order creates the case, whichever revision it is (a closed one is not
    dispatched). A later message applies only when its ``version`` is newer than the one applied: its
    content, title, caller and address replace the case's, and ``closed`` cancels an open case (closes a
    resolved one). Returns (case, created).
    """
    if plain_first(version, platform_status):
        case, _, created = submit(new)
        return case, created

    def on_created(session: Session, case: Case) -> bool:
        assert case.id is not None  # written by cases.insert before on_created runs
        session.add(HotlineOrder(case_id=case.id, version=version, platform_status=platform_status))
        if platform_status == "closed":
            _close(session, case, new.actor, version)
            return False
        return True

    case, _, created = submit(new, on_created)
    if created:
        return case, True
    assert case.id is not None  # a case from the database
    with Session(get_engine(), expire_on_commit=False) as session:
        case = apply_revision(session, case.id, new, version, platform_status)
        session.commit()
    return case, False


def _close(session: Session, case: Case, actor: str, version: int) -> None:
    note = "12345 平台已关闭工单 / closed on the 12345 platform"
    if case.status in OPEN_STATUSES:
        handling.cancel(session, case, actor, note, data={"version": version})
    elif case.status in ("resolved", "forwarded"):
        states.transition(session, case, "closed", actor=actor, action="platform_closed", note=note)


def apply_revision(session: Session, case_id: int, new: NewCase, version: int, platform_status: str) -> Case:
    """Apply a newer revision of a work order to its case (locked); an older or equal one changes nothing."""
    case = cases.get(session, case_id, lock=True)
    order = session.get(HotlineOrder, case.id)
    if order is not None and version <= order.version or order is None and version == 0:
        return case
    if order is None:
        assert case.id is not None  # a case from the database
        order = HotlineOrder(case_id=case.id)
    changed = {}
    fields = {
        "content": new.content.strip() or case.content,
        "title": new.title,
        "reporter_name": new.reporter_name,
        "reporter_phone": new.reporter_phone,
        "address": new.address,
    }
    for name, value in fields.items():
        if value != getattr(case, name):
            setattr(case, name, value)
            changed[name] = True
    cases.check_columns(case)  # as ``prepare`` checks a new case (the caller rolls back on a refusal)
    order.version, order.platform_status, order.updated_at = version, platform_status, utcnow()
    session.add(order)
    if changed:
        states.record(
            session, case, actor=new.actor, action="feed_updated", data={"version": version, "fields": sorted(changed)}
        )
    if platform_status == "closed":
        _close(session, case, new.actor, version)
    return case
