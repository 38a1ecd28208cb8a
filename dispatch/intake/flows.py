"""Mail polling: the RQ job that reads an IMAP mailbox when ``SHANGLIANG_IMAP_URL`` is set."""

from __future__ import annotations

import logging
from datetime import timedelta

from dispatch.broker import get_broker
from dispatch.config import get_settings
from dispatch.errors import AppError
from dispatch.intake import service
from dispatch.intake.imap import ImapMailbox
from dispatch.intake.mailparse import MailError, parse_mail

log = logging.getLogger(__name__)
POLL_JOB_ID = "imap-poll"


def poll_imap(*, reschedule: bool = True) -> int:
    """Turn every unseen mail into a case, then mark it seen; returns how many cases were made.

    A mail is marked only after its case committed, and mail cases are idempotent by Message-ID, so a crash
    in between re-delivers rather than loses or doubles.
    """
    settings = get_settings()
    if not settings.imap_url:
        return 0
    made = 0
    try:
        with ImapMailbox(settings.imap_url) as box:
            for uid, raw in box.unseen(limit=50):
                try:
                    case, _, created = service.submit(service.mail_case(parse_mail(raw), "imap"))
                    made += int(created)
                    log.info("mail uid %s → case %s", uid, case.tracking_no)
                except (MailError, AppError) as exc:
                    log.warning("mail uid %s rejected: %s", uid, exc)  # would fail the same way every time
                box.mark_processed(uid)
    finally:
        if reschedule:
            schedule_poll(settings.imap_poll_s)
    return made


def schedule_poll(delay_s: float = 0) -> None:
    """(Re)schedule the single polling job; its fixed id keeps one in the schedule."""
    queue = get_broker().queue
    if delay_s <= 0:
        queue.enqueue("workers.jobs.poll_mailbox", job_id=POLL_JOB_ID, result_ttl=0)
    else:
        queue.enqueue_in(timedelta(seconds=delay_s), "workers.jobs.poll_mailbox", job_id=POLL_JOB_ID, result_ttl=0)
