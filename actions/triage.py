"""After the one triage question was answered "no": answer what the patient had asked.

The question (utter_triage_question / utter_crisis_check, data/rules/triage.yml) came instead of
the answer to the message that raised it; that message's parse data still holds what the
classifiers made of it (RedFlagDetector puts its own intent first and keeps their ranking), so
the answer is read from there, not guessed again from "no".
"""
from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clarify import RETRIEVAL_INTENTS, candidate_topics
from spine_content.topics import topic_button, topic_titles
from spine_nlu.red_flags import CHECK_INTENTS, POSSIBLE_RED_FLAG_KEY

QUESTIONS = set(CHECK_INTENTS.values())
# Intents whose rule is a single response (data/rules/safety.yml, fallback.yml).
SINGLE_RESPONSE = {
    "ask_dosage": "utter_no_dosing",
    "ask_diagnosis": "utter_no_diagnosis",
    "ask_treatment_decision": "utter_no_treatment_decision",
    "health_other": "utter_health_other",
    "out_of_scope": "utter_out_of_scope",
}
# The selector must be this sure to answer without the question (as RetrievalRouter's gate).
MIN_RESPONSE_CONFIDENCE = 0.25


def checked_message(events: List[Dict[str, Any]]) -> Dict[str, Any] | None:
    """The parse data of the last user message that raised a triage or crisis check."""
    for event in reversed(events):
        if event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        if (parse.get("intent") or {}).get("name") in QUESTIONS:
            return parse
    return None


def answer_for(parse: Dict[str, Any]) -> str | None:
    """The response that answers the checked message, from the classifiers' own best guess."""
    ranking = [
        r
        for r in parse.get("intent_ranking") or []
        if r.get("name") not in QUESTIONS | set(CHECK_INTENTS)
    ]
    if not ranking:
        return None
    intent = ranking[0].get("name")
    if intent in SINGLE_RESPONSE:
        return SINGLE_RESPONSE[intent]
    if intent not in RETRIEVAL_INTENTS:
        return None
    selectors = parse.get("response_selector") or {}
    selected = (selectors.get(intent) or selectors.get("default") or {}).get("response") or {}
    confidence = float(selected.get("confidence") or 0.0)
    action = selected.get("utter_action")
    return action if action and confidence >= MIN_RESPONSE_CONFIDENCE else None


class ActionAnswerAfterTriage(Action):
    """Gives the answer the triage question held back, or asks what they would like to know."""

    def name(self) -> str:
        return "action_answer_after_triage"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        parse = checked_message(list(tracker.events)) or {}
        response = answer_for(parse)
        if response:
            dispatcher.utter_message(response=response)
        else:
            self._offer_topics(dispatcher, parse)
        if (parse.get(POSSIBLE_RED_FLAG_KEY) or {}).get("intent") == "urgent":
            # The question asked about emergency signs only; what makes it urgent (surgeon
            # today) is said once more.
            dispatcher.utter_message(response="utter_safety_net_postop")
        return []

    @staticmethod
    def _offer_topics(dispatcher: CollectingDispatcher, parse: Dict[str, Any]) -> None:
        titles = topic_titles()
        candidates = candidate_topics(parse, titles)
        if candidates:
            # Not utter_clarify's "I'm not sure I understood": the patient has just answered.
            dispatcher.utter_message(
                response="utter_triage_topics",
                buttons=[topic_button(key, titles) for key in candidates],
            )
        else:
            dispatcher.utter_message(response="utter_triage_what_next")
