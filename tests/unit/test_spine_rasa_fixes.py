"""The action-server call with the conversation's last turns (spine_rasa/fixes.py), against the
call Rasa 3.6.21 builds itself: the same payload up to the events, and the events cut only
before the ``ACTION_TURNS``-th last user message."""
from __future__ import annotations

import itertools
from typing import Any, Dict, List

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from spine_rasa.fixes import (
    ACTION_TURNS,
    WHOLE_SESSION_ACTIONS,
    action_call_format,
    recent_events,
)
from spine_rasa.shipped import resolve

SHIPPED = resolve("rasa.core.actions.action:RemoteAction._action_call_format")
DOMAIN = Domain.from_yaml(
    """
    version: "3.1"
    intents: [faq, book_appointment]
    slots:
      specialist_ids: {type: list, mappings: [{type: custom}]}
      patient_name: {type: text, mappings: [{type: custom}]}
    forms:
      booking_form: {required_slots: [patient_name]}
    actions: [action_follow_up, action_erase_my_data, action_my_data]
    """
)
_stamps = itertools.count(1_700_000_000)


def _turn(number: int) -> List[Event]:
    """One question answered by an action: a user message, the reply, a slot."""
    return [
        UserUttered(
            f"question {number}",
            {"name": "faq", "confidence": 0.9},
            parse_data={"intent": {"name": "faq", "confidence": 0.9}, "entities": []},
            timestamp=next(_stamps),
        ),
        ActionExecuted("action_follow_up", timestamp=next(_stamps)),
        BotUttered(f"answer {number}", metadata={"utter_action": "utter_faq/x"}),
        SlotSet("specialist_ids", [f"dr-{number}"], timestamp=next(_stamps)),
        ActionExecuted("action_listen", timestamp=next(_stamps)),
    ]


def _tracker(turns: int, form: bool = False) -> DialogueStateTracker:
    events: List[Event] = [
        ActionExecuted("action_session_start", timestamp=next(_stamps)),
        SessionStarted(timestamp=next(_stamps)),
        ActionExecuted("action_listen", timestamp=next(_stamps)),
    ]
    for number in range(turns):
        events += _turn(number)
    if form:
        events += [ActiveLoop("booking_form"), SlotSet("requested_slot", "patient_name")]
        events += [UserUttered("asha", {"name": "faq", "confidence": 0.5})]
    return DialogueStateTracker.from_events("patient", events, slots=DOMAIN.slots)


def _call(action: str, tracker: DialogueStateTracker, **kw: Any) -> Dict[str, Any]:
    remote = RemoteAction(action, EndpointConfig("http://127.0.0.1:1/webhook"))
    return action_call_format(remote, tracker, DOMAIN, **kw)


def _shipped(action: str, tracker: DialogueStateTracker) -> Dict[str, Any]:
    remote = RemoteAction(action, EndpointConfig("http://127.0.0.1:1/webhook"))
    return SHIPPED(remote, tracker, DOMAIN)  # type: ignore[no-any-return]


@pytest.mark.parametrize("turns", [0, 1, ACTION_TURNS - 1])
def test_a_conversation_within_the_turns_is_sent_exactly_as_rasa_sends_it(turns: int) -> None:
    tracker = _tracker(turns)
    assert _call("action_follow_up", tracker) == _shipped("action_follow_up", tracker)


@pytest.mark.parametrize("turns", [ACTION_TURNS, ACTION_TURNS + 1, 3 * ACTION_TURNS])
def test_a_longer_conversation_sends_its_last_turns_and_the_same_state(turns: int) -> None:
    tracker = _tracker(turns, form=True)
    mine, rasas = _call("action_follow_up", tracker), _shipped("action_follow_up", tracker)
    events = mine["tracker"].pop("events")
    all_events = rasas["tracker"].pop("events")
    assert mine == rasas  # slots, latest message, active form, domain: unchanged
    assert events == all_events[-len(events) :]
    assert len(events) < len(all_events)
    assert events[0]["event"] == "user"
    assert sum(e["event"] == "user" for e in events) == ACTION_TURNS
    assert mine["tracker"]["active_loop"]["name"] == "booking_form"


def test_the_payload_stops_growing_with_the_session() -> None:
    sizes = [len(_call("action_follow_up", _tracker(n))["tracker"]["events"]) for n in (60, 600)]
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("action", sorted(WHOLE_SESSION_ACTIONS))
def test_actions_that_count_the_conversation_get_every_event(action: str) -> None:
    tracker = _tracker(2 * ACTION_TURNS)
    assert _call(action, tracker) == _shipped(action, tracker)


def test_recent_events_counts_user_messages_from_the_end() -> None:
    events = _tracker(5).events
    assert recent_events(events, 2)[0].text == "question 3"  # type: ignore[attr-defined]
    assert recent_events(events, 50) == list(events)


def test_the_whole_session_actions_are_the_projects() -> None:
    from devstack.servers import ROOT

    assert WHOLE_SESSION_ACTIONS <= set(Domain.load(str(ROOT / "domain.yml")).user_actions)
