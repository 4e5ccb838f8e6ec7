"""Emergency and crisis handling: the urgent reply first and alone, and a flag for staff review."""
from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

# kind -> (urgent message, follow-up offer)
SAFETY_RESPONSES = {
    "emergency": ("utter_emergency", "utter_emergency_followup"),
    "crisis": ("utter_crisis", "utter_crisis_followup"),
}


def red_flags_of(parse_data: Dict[str, Any]) -> List[str]:
    """Ids of the red flags RedFlagDetector recorded on a message (parse data ``red_flags``)."""
    flags = [f.get("id") for f in parse_data.get("red_flags") or [] if isinstance(f, dict)]
    return [f for f in dict.fromkeys(flags) if f]


def safety_kind(parse_data: Dict[str, Any]) -> str:
    intent = (parse_data.get("intent") or {}).get("name")
    return intent if intent in SAFETY_RESPONSES else "emergency"


class ActionHandleRedFlag(Action):
    """Sends the emergency (or crisis) message, then an offer to help, and flags the conversation.

    The flag is two SlotSet events (``safety_flag``, ``red_flags``) stored with the conversation,
    which the staff console filters on.
    """

    def name(self) -> str:
        return "action_handle_red_flag"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        parse_data = tracker.latest_message or {}
        kind = safety_kind(parse_data)
        urgent, followup = SAFETY_RESPONSES[kind]
        dispatcher.utter_message(response=urgent)
        dispatcher.utter_message(response=followup)
        flags = red_flags_of(parse_data) or [f"classifier:{kind}"]
        previous = tracker.get_slot("red_flags") or []
        return [
            SlotSet("safety_flag", kind),
            SlotSet("red_flags", list(dict.fromkeys([*previous, *flags]))),
        ]
