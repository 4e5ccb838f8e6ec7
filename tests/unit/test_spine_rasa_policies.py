"""IndexedRulePolicy formats the conversation's states for Rasa's debug line only when that
line is logged (Rasa formats every state on each rule search whatever the level), and finds the
same rules as Rasa's search."""
from __future__ import annotations

import json
import logging
import random
from typing import Any, Dict, Iterator

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


def _random_state(rng: random.Random) -> Dict[str, Any]:
    state: Dict[str, Any] = {}
    if rng.random() < 0.9:
        state["prev_action"] = {"action_name": rng.choice(ACTIONS)}
    if rng.random() < 0.6:
        state["user"] = {"intent": rng.choice(INTENTS)}
    if rng.random() < 0.2:
        state["slots"] = {"doctor_id": (1.0,)}
    return state


ACTIONS = ["action_listen", "utter_faq", "action_show_specialists", "utter_greet"]
INTENTS = ["faq", "greet", "ask_doctor", "affirm"]


@pytest.mark.parametrize("seed", range(40))
def test_the_rule_search_stops_where_rasas_finds_every_rule_applicable(seed: int) -> None:
    """The walk back stops at the longest surviving rule: the same rules as Rasa's full walk,
    on random rules (1-5 states) and conversations up to 80 states long."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    lookup = {
        json.dumps([_random_state(rng) for _ in range(rng.randint(1, 5))]): "utter_faq"
        for _ in range(60)
    }
    policy = IndexedRulePolicy.__new__(IndexedRulePolicy)
    for length in (1, 2, 3, 6, 20, 80):
        states = [_random_state(rng) for _ in range(length)]
        for tail in range(1, 4):  # conversations ending the way some rules do
            key = rng.choice(list(lookup))
            states = states[:-tail] + json.loads(key)[-tail:]
            ours = policy._get_possible_keys(lookup, states)
            assert ours == RulePolicy._get_possible_keys(policy, lookup, states)
