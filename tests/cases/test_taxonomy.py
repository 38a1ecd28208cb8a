"""The one rule for "this branch of the category tree holds that category" (members' fields, deadline rules)."""

from __future__ import annotations

import pytest

from dispatch.cases import taxonomy
from dispatch.deadlines.policy import pick_rule


@pytest.mark.parametrize(
    ("prefix", "category", "held"),
    [
        ("", None, True),  # the whole tree, even an uncategorised case
        ("城乡建设", "城乡建设", True),
        ("城乡建设", "城乡建设/安全生产/安全隐患", True),
        ("城乡建设/安全", "城乡建设/安全生产", False),  # a sibling that starts with the same characters
        ("城乡建设", None, False),
        ("城乡建设", "交通运输", False),
    ],
)
def test_a_branch_holds_its_own_path_and_what_lies_below_it(prefix, category, held):
    assert taxonomy.covers(prefix, category) is held


def test_the_deadline_rule_of_the_longest_branch_that_holds_the_category_wins():
    rules = [
        {"category_prefix": "", "urgency": "normal", "kind": "", "id": "any"},
        {"category_prefix": "城乡建设", "urgency": "normal", "kind": "", "id": "branch"},
        {"category_prefix": "城乡建设/安全", "urgency": "normal", "kind": "", "id": "look-alike"},
    ]
    assert pick_rule(rules, "城乡建设/安全生产", "normal")["id"] == "branch"
    assert pick_rule(rules, "交通运输", "normal")["id"] == "any"
    assert pick_rule(rules, None, "normal")["id"] == "any"
