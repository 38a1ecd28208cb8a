"""The rule every state machine here shares: a move is legal only if listed; otherwise 409 with the moves
that are (``details.allowed``)."""

from __future__ import annotations

from typing import Any

from dispatch.errors import Conflict


class Transitions:
    def __init__(self, moves: dict[str, set[str]], noun_zh: str, noun_en: str) -> None:
        self.moves = moves
        self.noun_zh, self.noun_en = noun_zh, noun_en

    def allowed(self, status: str) -> list[str]:
        return sorted(self.moves.get(status, ()))

    def move(self, entity: Any, to_status: str) -> str:
        """Check the move and make it on ``entity.status``; the status it left."""
        self.check(entity.status, to_status)
        was, entity.status = entity.status, to_status
        return was

    def check(self, status: str, to_status: str) -> None:
        if to_status not in self.moves.get(status, ()):
            raise Conflict(
                "illegal_transition",
                f"{self.noun_zh}当前状态为 {status}，不能变为 {to_status}",
                f"A {self.noun_en} in status {status} cannot move to {to_status}",
                status_from=status,
                status_to=to_status,
                allowed=self.allowed(status),
            )
