"""ConversationTracker.past_states returns what Rasa computes, on long conversations that use
everything that can undo or reset the history (reverts, restarts, forms, follow-ups)."""
from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any, Dict, List

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from spine_rasa.trackers import ConversationTracker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(ROOT / "domain.yml")


def _random_event(rng: random.Random, domain: Domain) -> Event:
    form = next(iter(domain.forms))
    slots = [s for s in domain.slots if s.influence_conversation] or list(domain.slots)
    roll = rng.random()
    if roll < 0.25:
        intent = rng.choice(domain.intents)
        return UserUttered(
            f"text {rng.randint(0, 5)}",
            {"name": intent, "confidence": 1.0},
            [{"entity": "doctor", "value": "x"}] if rng.random() < 0.2 else [],
        )
    if roll < 0.6:
        name = rng.choice(["action_listen", form, *rng.sample(domain.action_names_or_texts, 3)])
        return ActionExecuted(name, hide_rule_turn=rng.random() < 0.3)
    if roll < 0.75:
        slot = rng.choice(slots)
        return SlotSet(slot.name, rng.choice([None, "a", "b", True, 1.0, ["x"]]))
    if roll < 0.82:
        return ActiveLoop(rng.choice([form, None]))
    if roll < 0.86:
        return FollowupAction(rng.choice(domain.action_names_or_texts))
    if roll < 0.90:
        return UserUtteranceReverted()
    if roll < 0.94:
        return ActionReverted()
    if roll < 0.96:
        return Restarted()
    if roll < 0.97:
        return SessionStarted()
    return ActionExecuted("action_listen")


def _mangle(states: List[Dict[str, Any]]) -> None:
    """What the featurizer does to the last state it gets (deletes the text, in place): where
    Rasa's states share their user part, the earlier state loses it too."""
    if states and isinstance(states[-1].get("user"), dict):
        states[-1]["user"].pop("text", None)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    ("omit_unset_slots", "ignore_rule_only_turns", "rule_only_data"),
    [
        (False, False, None),
        (False, True, None),
        (True, True, {"slots": ["doctor_id"], "active_loops": ["booking_form"]}),
    ],
)
def test_past_states_match_rasa_after_every_event(
    domain: Domain,
    seed: int,
    omit_unset_slots: bool,
    ignore_rule_only_turns: bool,
    rule_only_data: Dict[str, Any] | None,
) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    remembering = ConversationTracker("patient", domain.slots)
    asked: Dict[str, Any] = dict(
        omit_unset_slots=omit_unset_slots,
        ignore_rule_only_turns=ignore_rule_only_turns,
        rule_only_data=rule_only_data,
    )
    events: List[Event] = []
    for _ in range(160):
        event = _random_event(rng, domain)
        events.append(event)
        remembering.update(copy.deepcopy(event))
        # a second way of asking in between must not disturb the first one's memory
        remembering.past_states(domain, ignore_rule_only_turns=not ignore_rule_only_turns)
        got = remembering.past_states(domain, **asked)
        shipped = DialogueStateTracker.from_events("patient", events, domain.slots)
        applied = remembering.applied_events()
        assert [e.as_dict() for e in applied] == [e.as_dict() for e in shipped.applied_events()]
        applied.clear()  # a caller's list is its own
        expected = domain.states_for_tracker_history(shipped, **asked)
        assert got == expected
        _mangle(got)
        _mangle(expected)
        assert got == expected


def test_store_trackers_are_conversation_trackers(domain: Domain) -> None:
    """The store builds trackers with ``from_dict`` on this class: it keeps the subclass."""
    events = [ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet"})]
    tracker = ConversationTracker.from_dict("p", [e.as_dict() for e in events], domain.slots)
    assert isinstance(tracker, ConversationTracker)
    assert tracker.past_states(domain) == domain.states_for_tracker_history(tracker)
