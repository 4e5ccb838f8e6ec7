"""IndexedRulePolicy formats the conversation's states for Rasa's debug line only when that
line is logged (Rasa formats every state on each rule search whatever the level)."""
from __future__ import annotations

import logging
from typing import Iterator

import pytest
from rasa.core.policies.rule_policy import RulePolicy

from spine_rasa.policies import IndexedRulePolicy

STATES = [
    {"user": {"intent": "faq"}, "prev_action": {"action_name": "action_listen"}},
    {"user": {"intent": "faq"}, "prev_action": {"action_name": "utter_faq"}},
]


@pytest.fixture
def rule_log() -> Iterator[logging.Logger]:
    log = logging.getLogger(RulePolicy.__module__)
    level = log.level
    yield log
    log.setLevel(level)  # setLevel also clears the loggers' level caches


def test_states_are_formatted_only_for_a_debug_log(rule_log: logging.Logger) -> None:
    rule_log.setLevel(logging.INFO)
    assert IndexedRulePolicy.format_tracker_states(STATES) == ""
    rule_log.setLevel(logging.DEBUG)
    formatted = IndexedRulePolicy.format_tracker_states(STATES)
    assert formatted == RulePolicy.format_tracker_states(STATES)
    assert "utter_faq" in formatted
