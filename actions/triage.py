"""After the one triage question was answered "no": answer what the patient had asked.

The question (utter_triage_question / utter_crisis_check, data/rules/triage.yml) came instead of
the answer to the message that raised it; that message's parse data still holds what the
classifiers made of it (RedFlagDetector puts its own intent first and keeps their ranking), so
the answer is read from there, not guessed again from "no".

A request that is not a question (delete my data, cancel, book, goodbye: each has its own rule
or form) is handed back to the dialogue instead: the message is replayed with the classifiers'
intent, as Rasa's two-stage fallback replays an affirmed one, so "delete everything i told you"
that drew the crisis check is still carried out after "no".
"""
from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, UserUttered
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clarify import RETRIEVAL_INTENTS, candidate_topics
from spine_content.topics import topic_button, topic_titles
from spine_nlu.red_flags import CHECK_INTENTS, POSSIBLE_RED_FLAG_KEY

QUESTIONS = set(CHECK_INTENTS.values())
# RedFlagDetector's own intents in a checked message's ranking; the rest are the classifiers'.
DETECTOR_INTENTS = QUESTIONS | set(CHECK_INTENTS)
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
# Requests with a rule or form of their own (data/rules/), replayed rather than answered here.
HANDED_BACK = {
    "ask_specialist_detail",
    "book_appointment",
    "bot_challenge",
    "cancel",
    "change_booking_detail",
    "delete_my_data",
    "find_specialist",
    "goodbye",
    "greet",
    "my_data",
    "not_in_guide",
    "request_callback",
    "thank",
    "what_can_you_do",
    "withdraw_consent",
}
# In a replayed message's parse: the check question it followed (console/indexer.py).
REPLAY_KEY = "replay_of"
# As sure as FallbackClassifier requires (config.yml) for the intent to be acted on.
MIN_INTENT_CONFIDENCE = 0.4


def checked_message(events: List[Dict[str, Any]]) -> Dict[str, Any] | None:
    """The parse data of the last user message that raised a triage or crisis check."""
    for event in reversed(events):
        if event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        if (parse.get("intent") or {}).get("name") in QUESTIONS:
            return parse
    return None


def _classifiers_ranking(parse: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The intent ranking without RedFlagDetector's own check and level intents."""
    return [r for r in parse.get("intent_ranking") or [] if r.get("name") not in DETECTOR_INTENTS]


def handed_back(parse: Dict[str, Any]) -> Dict[str, Any] | None:
    """The checked message's parse with the classifiers' intent, when that intent is a request
    with its own rule or form and they were sure enough of it; else ``None``."""
    ranking = _classifiers_ranking(parse)
    if not ranking or ranking[0].get("name") not in HANDED_BACK:
        return None
    best = {"name": ranking[0]["name"], "confidence": float(ranking[0].get("confidence") or 0.0)}
    if best["confidence"] < MIN_INTENT_CONFIDENCE:
        return None
    asked = (parse.get("intent") or {}).get("name")
    # The console counts the patient's message once: the replay says which question it follows.
    return {**parse, "intent": best, "intent_ranking": ranking, REPLAY_KEY: asked}


def answer_for(parse: Dict[str, Any]) -> str | None:
    """The response that answers the checked message, from the classifiers' own best guess."""
    ranking = _classifiers_ranking(parse)
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
        urgent = (parse.get(POSSIBLE_RED_FLAG_KEY) or {}).get("intent") == "urgent"
        replay = handed_back(parse)
        if replay is not None:
            if urgent:
                dispatcher.utter_message(response="utter_safety_net_postop")
            # As if the patient had just sent it: its own rule or form runs next.
            return [
                ActionExecuted("action_listen"),
                UserUttered(
                    parse.get("text"), replay, input_channel=tracker.get_latest_input_channel()
                ),
            ]
        response = answer_for(parse)
        if response:
            dispatcher.utter_message(response=response)
        else:
            self._offer_topics(dispatcher, parse)
        if urgent:
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
