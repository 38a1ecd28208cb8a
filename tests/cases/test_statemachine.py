"""Every entity with a status moves it through its own machine: a move not listed is refused and changes nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dispatch.analysis.service import MOVES as HOTSPOT_MOVES
from dispatch.callbacks.service import MOVES as CALLBACK_MOVES
from dispatch.errors import Conflict
from dispatch.notifications.service import MOVES as NOTIFICATION_MOVES


@pytest.mark.parametrize(
    ("machine", "legal", "illegal"),
    [
        (CALLBACK_MOVES, ("open", "claimed"), ("done", "claimed")),  # a done callback is not claimed again
        (HOTSPOT_MOVES, ("open", "dismissed"), ("topic", "open")),  # a hotspot made a topic does not reopen
        (NOTIFICATION_MOVES, ("sending", "pending"), ("sent", "pending")),  # a sent reply is never sent again
    ],
)
def test_a_move_is_made_only_when_its_machine_lists_it(machine, legal, illegal):
    entity = SimpleNamespace(status=legal[0])
    assert machine.move(entity, legal[1]) == legal[0] and entity.status == legal[1]
    final = SimpleNamespace(status=illegal[0])
    with pytest.raises(Conflict) as refused:
        machine.move(final, illegal[1])
    assert final.status == illegal[0]
    assert refused.value.code == "illegal_transition" and refused.value.details["allowed"] == []
