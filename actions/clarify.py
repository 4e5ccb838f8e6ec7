"""Clarification when the assistant is not sure what the user asked."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from spine_content.topics import topic_button, topic_titles
from spine_nlu.red_flags import POSSIBLE_RED_FLAG_KEY

RETRIEVAL_INTENTS = ("faq", "article")
SPINE_ENTITIES = ("procedure", "condition", "body_part")
FALLBACK_INTENT = "nlu_fallback"


def candidate_topics(
    parse_data: Dict[str, Any],
    known: Iterable[str],
    limit: int = 3,
    min_confidence: float = 0.1,
) -> List[str]:
    """The response selector's best answer keys for a message, most likely first."""
    known_set = set(known)
    scored: Dict[str, float] = {}
    for selector in (parse_data.get("response_selector") or {}).values():
        if not isinstance(selector, dict):
            continue  # e.g. the "all_retrieval_intents" list
        for entry in selector.get("ranking") or []:
            key = entry.get("intent_response_key")
            confidence = float(entry.get("confidence") or 0.0)
            if key in known_set and confidence >= min_confidence:
                scored[key] = max(confidence, scored.get(key, 0.0))
    return sorted(scored, key=lambda k: -scored[k])[:limit]


def looks_on_topic(parse_data: Dict[str, Any], min_confidence: float = 0.2) -> bool:
    """True when the message seems to be about the guide (so suggestions make sense)."""
    if any(e.get("entity") in SPINE_ENTITIES for e in parse_data.get("entities") or []):
        return True
    for ranked in parse_data.get("intent_ranking") or []:
        name = ranked.get("name")
        if name == FALLBACK_INTENT:
            continue
        return name in RETRIEVAL_INTENTS and float(ranked.get("confidence") or 0) >= min_confidence
    return False


class ActionClarifyTopic(Action):
    """Offers the most likely topics as buttons, or says what the assistant covers."""

    def name(self) -> str:
        return "action_clarify_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        parse_data = tracker.latest_message or {}
        titles = topic_titles()
        candidates = candidate_topics(parse_data, titles)
        if candidates and looks_on_topic(parse_data):
            dispatcher.utter_message(
                response="utter_clarify",
                buttons=[topic_button(key, titles) for key in candidates],
            )
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        if parse_data.get(POSSIBLE_RED_FLAG_KEY):
            dispatcher.utter_message(response="utter_clarify_urgent_help")
        return []
