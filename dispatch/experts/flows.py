"""Reactions to the think tank's changes: none yet. An expert has no status of its own (``active`` is a flag the
draw reads, ``consultations.service.eligible_pool``); the draws and replacements are recorded on the topic's
trail by ``consultations.states``."""
