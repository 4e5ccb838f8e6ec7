"""SafetyNetPolicy's decision (spine_nlu/safety_net.py) on trackers built from events."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from spine_nlu.safety_net import next_action

NET = {"id": "nerve_symptoms", "response": "utter_safety_net_nerve"}


def tracker(parse: Dict[str, Any], actions: List[str], loop: str | None, said: bool) -> Any:
    """A turn: the user's message, then ``actions``, each followed by a bot message if ``said``."""
    events: List[Event] = [ActionExecuted("action_listen")]
    if loop:
        events.append(ActiveLoop(loop))
    events.append(UserUttered("my foot tingles", parse_data={"intent": {"name": "faq"}, **parse}))
    for name in actions:
        events += [ActionExecuted(name), *([BotUttered("...")] if said else [])]
    return DialogueStateTracker.from_events("someone", events)


@pytest.mark.parametrize(
    ("parse", "actions", "loop", "expected"),
    [
        ({"safety_net": NET}, [], None, None),  # the answer comes first
        ({"safety_net": NET}, ["utter_faq"], None, "utter_safety_net_nerve"),
        ({"safety_net": NET}, ["utter_faq", "utter_safety_net_nerve"], None, "action_listen"),
        ({"safety_net": NET}, ["utter_booking_intro"], None, None),  # a rule's next step follows
        # a failed action is logged as run with nothing said: no net line to hide the failure
        ({"safety_net": NET}, ["action_clarify_topic"], "silent", None),
        ({"safety_net": NET}, ["utter_faq"], "booking_form", None),  # never inside a form
        ({}, ["utter_faq"], None, None),
        ({"safety_net": "junk"}, ["utter_faq"], None, None),
    ],
)
def test_next_action(
    parse: Dict[str, Any], actions: List[str], loop: str | None, expected: Any
) -> None:
    silent = loop == "silent"  # the actions ran but said nothing (a failed custom action)
    assert next_action(tracker(parse, actions, None if silent else loop, not silent)) == expected
