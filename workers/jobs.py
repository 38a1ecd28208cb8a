"""RQ entry points: thin functions that call a service."""

from __future__ import annotations


def offer_timeout(offer_id: int, *more: int) -> bool:
    """The offers expiring at one moment (those of one intake group share a job)."""
    from dispatch.dispatching.flows import run_offer_timeouts

    return run_offer_timeouts([offer_id, *more])


def poll_mailbox() -> int:
    from dispatch.intake.flows import poll_imap

    return poll_imap()


def follow_up_due(follow_up_id: int) -> bool:
    from dispatch.consultations.flows import run_follow_up_due

    return run_follow_up_due(follow_up_id)


def weekly_report() -> int:
    from dispatch.reports.flows import run_weekly

    return run_weekly()


def ladder_step(case_id: int, step: str, *more: int) -> list[str]:
    """A ladder step of one case, or of the cases of one intake group due at the same second."""
    from dispatch.deadlines.flows import run_ladder_steps

    return run_ladder_steps([case_id, *more], step)


def detect_hotspots() -> dict:
    from dispatch.analysis.flows import run_detection

    return run_detection()


def send_notification(notification_id: int) -> str:
    from dispatch.notifications.flows import run_send

    return run_send(notification_id)


def callback_unrated(case_id: int) -> bool:
    from dispatch.callbacks.flows import run_unrated_check

    return run_unrated_check(case_id)


# every module a job or the maintenance loop imports (see ``preload``)
MODULES = (
    "dispatch.models",
    "dispatch.analysis.flows",
    "dispatch.callbacks.flows",
    "dispatch.consultations.flows",
    "dispatch.deadlines.flows",
    "dispatch.dispatching.flows",
    "dispatch.events.relay",
    "dispatch.intake.flows",
    "dispatch.members.service",
    "dispatch.notifications.flows",
    "dispatch.reports.flows",
)


def preload() -> None:
    """Import what the jobs and the maintenance loop use, in the worker before it forks any work horse.

    A fork while another thread of the worker (its maintenance loop) is importing a module leaves that
    module's import lock held in the child: the job then waits on it until RQ kills it (seen: an offer
    timeout stuck importing ``dispatch.errors`` for 180 s, its case left offered)."""
    import importlib

    for name in MODULES:
        importlib.import_module(name)
