"""The channel adapters: each turns its input into ``cases.service.create`` and commits before answering."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.cases import service as cases
from dispatch.cases.models import Case
from dispatch.cases.service import NewAttachment, NewCase
from dispatch.db import get_engine
from dispatch.dispatching.service import try_offer_next
from dispatch.intake.mailparse import ParsedMail
from dispatch.intake.models import Mailbox
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
