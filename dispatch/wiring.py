"""The composition root of what follows a case's move: every subscription to ``cases.states`` in one place,
read top to bottom as "when this happens, that follows". The app, the CLI, the workers and the tests call
``install()``; the domains below never call the ones above them (``make lint`` checks it).
"""

from __future__ import annotations

from dispatch.analysis import flows as analysis
from dispatch.callbacks import flows as callbacks
from dispatch.cases import states
from dispatch.cases.states import HOLDS_SLOT
from dispatch.deadlines import flows as deadlines
from dispatch.dispatching import flows as dispatching
from dispatch.notifications import flows as notifications


def install() -> None:
    """Subscribe every domain's follow-up to the case moves (idempotent). Within a phase, in this order."""
    on = states.subscribe
    # before the trail: what the live event of the move shows
    on(deadlines.cases_created, phase="before", actions=("created",))  # sign deadline, rule, ladder
    on(dispatching.free_slot, phase="before", leaving=("offered", *HOLDS_SLOT))  # offer withdrawn, slot back
    # after the trail, in the same transaction
    on(analysis.cases_created, actions=("created",))  # hotspot detection, coalesced, after the commit
    on(deadlines.deadline_moved, actions=("categorised", "request_kind", "extension_approved"))  # ladder follows
    on(notifications.reply_to_residents, entering=("resolved",))  # the reply to the resident
    on(callbacks.cases_resolved, entering=("resolved",))  # the callback (回访) task
    on(callbacks.cases_answered, actions=("rated",), leaving=("resolved",))  # open callback tasks cancelled
    on(dispatching.offer_reopened, entering=("reopened",))  # dissatisfied: offered again, by one rule
