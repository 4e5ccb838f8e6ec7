"""SafetyNetPolicy's decision (spine_nlu/safety_net.py) on trackers built from events."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from spine_nlu.safety_net import next_action

NET = {"id": "nerve_symptoms", "response": "utter_safety_net_nerve"}


def tracker(parse: Dict[str, Any], actions: List[str], loop: str | None = None) -> Any:
    events: List[Event] = [ActionExecuted("action_listen")]
    if loop:
        events.append(ActiveLoop(loop))
    events.append(UserUttered("my foot tingles", parse_data={"intent": {"name": "faq"}, **parse}))
    events += [ActionExecuted(name) for name in actions]
    return DialogueStateTracker.from_events("someone", events)


@pytest.mark.parametrize(
    ("parse", "actions", "loop", "expected"),
    [
        ({"safety_net": NET}, [], None, None),  # the answer comes first
        ({"safety_net": NET}, ["utter_faq"], None, "utter_safety_net_nerve"),
        ({"safety_net": NET}, ["utter_faq", "utter_safety_net_nerve"], None, "action_listen"),
        ({"safety_net": NET}, ["utter_booking_intro"], None, None),  # a rule's next step follows
        ({"safety_net": NET}, ["utter_faq"], "booking_form", None),  # never inside a form
        ({}, ["utter_faq"], None, None),
        ({"safety_net": "junk"}, ["utter_faq"], None, None),
    ],
)
def test_next_action(
    parse: Dict[str, Any], actions: List[str], loop: str | None, expected: Any
) -> None:
    assert next_action(tracker(parse, actions, loop)) == expected
