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
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    FollowupAction,
    LoopInterrupted,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from spine_rasa.trackers import ConversationTracker, last_states

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


def _any_event(rng: random.Random, domain: Domain) -> Event:
    """Also the events that change the loop, pausing and the bot's latest words in place."""
    form = next(iter(domain.forms))
    roll = rng.random()
    if roll < 0.06:
        return LoopInterrupted(rng.random() < 0.7)
    if roll < 0.1:
        return ActionExecutionRejected(form)
    if roll < 0.13:
        return ConversationPaused()
    if roll < 0.16:
        return ConversationResumed()
    if roll < 0.22:
        return BotUttered(f"reply {rng.randint(0, 3)}")
    return _random_event(rng, domain)


def _state(tracker: DialogueStateTracker) -> Dict[str, Any]:
    """Everything replaying the events sets, and what Rasa's copy leaves unset."""
    return {
        "type": type(tracker),
        "events": [e.as_dict() for e in tracker.events],
        "slots": {n: (s.value, s.has_been_set, type(s)) for n, s in tracker.slots.items()},
        "paused": tracker.is_paused(),
        "followup": tracker.followup_action,
        "latest_action": tracker.latest_action,
        "latest_message": tracker.latest_message,
        "latest_bot": tracker.latest_bot_utterance,
        "loop": copy.deepcopy(tracker.active_loop),
        "rule": tracker.is_rule_tracker,
        "ids": (tracker.sender_id, tracker.sender_source, tracker.model_id, tracker.assistant_id),
        "current": tracker.current_state(EventVerbosity.ALL),
    }


@pytest.mark.parametrize("seed", range(8))
def test_copy_is_rasas_copy_after_every_event(domain: Domain, seed: int) -> None:
    """Rasa copies before every action and applies the action's events to the copy alone."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    tracker = ConversationTracker("patient", domain.slots, sender_source="whatsapp")
    tracker.model_id, tracker.assistant_id = "model", "assistant"
    for _ in range(160):
        tracker.update(_any_event(rng, domain))
        before = _state(tracker)
        ours, rasas = tracker.copy(), DialogueStateTracker.copy(tracker)
        assert _state(ours) == _state(rasas)
        for _ in range(3):
            event = _any_event(rng, domain)
            ours.update(copy.deepcopy(event))
            rasas.update(copy.deepcopy(event))
            assert _state(ours) == _state(rasas)
        assert _state(tracker) == before  # the copy shares nothing that changes


def test_a_tracker_that_forgets_events_is_copied_by_replay(domain: Domain) -> None:
    tracker = ConversationTracker("patient", domain.slots, max_event_history=2)
    slot = next(s.name for s in domain.slots if isinstance(s, TextSlot))
    for event in (SlotSet(slot, "kept"), ActionExecuted("action_listen"), UserUttered("hi")):
        tracker.update(event)
    # the slot's event is gone: replaying what is left cannot set it, and Rasa's copy does not
    assert tracker.slots[slot].value == "kept"
    assert tracker.copy().slots[slot].value is None


def _unlikely(state: Dict[str, Any]) -> bool:
    return state.get("prev_action", {}).get("action_name") == "action_unlikely_intent"


def _shortest_tail(states: List[Dict[str, Any]], count: int) -> List[Dict[str, Any]]:
    for start in range(len(states), -1, -1):
        if sum(not _unlikely(state) for state in states[start:]) >= count:
            return states[start:]
    return states


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("count", [1, 3, 9])
def test_a_policy_that_reads_the_last_states_gets_rasas_last_states(
    domain: Domain, seed: int, count: int
) -> None:
    """Within ``last_states``, the shortest tail of what Rasa computes that holds ``count``
    states (an ``action_unlikely_intent`` turn does not count: the featurizer drops it before it
    keeps the last ``max_history``); outside it, and for Rasa's own tracker, everything."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    remembering = ConversationTracker("patient", domain.slots)
    events: List[Event] = []
    shortened = 0
    for step in range(160):
        event = _random_event(rng, domain)
        if step % 7 == 0:
            event = ActionExecuted("action_unlikely_intent")
        events.append(event)
        remembering.update(copy.deepcopy(event))
        shipped = DialogueStateTracker.from_events("patient", events, domain.slots)
        expected = domain.states_for_tracker_history(shipped, ignore_rule_only_turns=True)
        with last_states(remembering, count), last_states(shipped, count):
            got = remembering.past_states(domain, ignore_rule_only_turns=True)
            assert shipped.past_states(domain, ignore_rule_only_turns=True) == expected
        tail = _shortest_tail(expected, count)
        assert got == tail
        shortened += len(got) < len(expected)
        _mangle(got)
        _mangle(tail)
        assert got == tail
        # the caller's changes stayed in its copies
        fresh = domain.states_for_tracker_history(shipped, ignore_rule_only_turns=True)
        assert remembering.past_states(domain, ignore_rule_only_turns=True) == fresh
    assert shortened or count > 3  # random conversations restart often: long tails are rare
