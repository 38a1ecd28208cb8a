"""RQ entry points: thin functions that call a service.

A composition root: importing it imports every module a job or the maintenance loop uses and installs the case
subscriptions (``dispatch.wiring``), so a worker has them all before it forks a work horse (a fork while another
thread is importing leaves the child holding that import's lock: seen as an offer timeout stuck for 180 s).
"""

from __future__ import annotations

import dispatch.models  # noqa: F401 - every table: a job's flush resolves every foreign key
from dispatch import (
    maintenance,  # noqa: F401 - what the worker's maintenance loop runs
    wiring,
)
from dispatch.analysis.flows import run_detection
from dispatch.callbacks.flows import run_unrated_check
from dispatch.consultations.flows import run_follow_up_due
from dispatch.deadlines.flows import run_ladder_steps
from dispatch.dispatching.flows import run_offer_timeouts
from dispatch.intake.flows import poll_imap
from dispatch.notifications.flows import run_send
from dispatch.reports.flows import run_weekly

wiring.install()


def offer_timeout(offer_id: int, *more: int) -> bool:
    """The offers expiring at one moment (those of one intake group share a job)."""
    return run_offer_timeouts([offer_id, *more])


def poll_mailbox() -> int:
    return poll_imap()


def follow_up_due(follow_up_id: int) -> bool:
    return run_follow_up_due(follow_up_id)


def weekly_report() -> int:
    return run_weekly()


def ladder_step(case_id: int, step: str, *more: int) -> list[str]:
    """A ladder step of one case, or of the cases of one intake group due at the same second."""
    return run_ladder_steps([case_id, *more], step)


def detect_hotspots() -> dict:
    return run_detection()


def send_notification(notification_id: int) -> str:
    return run_send(notification_id)


def callback_unrated(case_id: int) -> bool:
    return run_unrated_check(case_id)
