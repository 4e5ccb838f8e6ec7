"""Answers for messages that hold several questions, and quotes from the guide itself.

The NLU (``spine_nlu.question_finder.QuestionFinder``) finds the questions and puts them in the
parse data; these actions only answer them, each with its own response so every answer keeps its
own key for the staff console.
"""
from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.specialists import place_entities, show_specialists, specialist_detail
from spine_nlu.red_flags import POSSIBLE_RED_FLAG_KEY

QUESTIONS_KEY = "questions"
PASSAGE_KEY = "guide_passage"
# Questions only a doctor can answer, each with the reply that says so.
DOCTOR_MUST_DECIDE = {
    "ask_diagnosis": "utter_no_diagnosis",
    "ask_dosage": "utter_no_dosing",
    "ask_treatment_decision": "utter_no_treatment_decision",
    "not_in_guide": "utter_not_in_guide",
}


def response_for(answer: str) -> str | None:
    """The domain response that answers ``answer`` (a retrieval key or an intent), if any."""
    if "/" in answer:
        return f"utter_{answer}"
    return DOCTOR_MUST_DECIDE.get(answer)


def urgent_help(dispatcher: CollectingDispatcher, parse: Dict[str, Any]) -> None:
    """The urgent-help numbers when the classifiers leaned towards an emergency or a crisis."""
    if parse.get(POSSIBLE_RED_FLAG_KEY):
        dispatcher.utter_message(response="utter_clarify_urgent_help")


class ActionAnswerQuestions(Action):
    """Each question of a multi-question message answered in the order asked."""

    def name(self) -> str:
        return "action_answer_questions"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        parse = tracker.latest_message or {}
        questions: List[Dict[str, Any]] = list(parse.get(QUESTIONS_KEY) or [])
        events: List[EventType] = []
        shown: List[str] = list(tracker.get_slot("specialist_ids") or [])
        sent: set[str] = set()
        for question in questions:
            answer, text = str(question.get("answer") or ""), str(question.get("text") or "")
            if answer == "find_specialist":
                new = show_specialists(dispatcher, text, place_entities(parse), shown)
            elif answer == "ask_specialist_detail":
                new = specialist_detail(dispatcher, text, shown)
            else:
                response = response_for(answer)
                if response and response not in sent:
                    sent.add(response)
                    dispatcher.utter_message(response=response)
                continue
            events += new
            for event in new:
                if event.get("name") == "specialist_ids":
                    shown = list(event.get("value") or [])
        if not questions:
            dispatcher.utter_message(response="utter_clarify")
        urgent_help(dispatcher, parse)
        return events


class ActionAnswerFromGuide(Action):
    """The guide's own sentence closest to a question the classifiers were unsure about."""

    def name(self) -> str:
        return "action_answer_from_guide"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        passage = (tracker.latest_message or {}).get(PASSAGE_KEY) or {}
        if not passage.get("text"):
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        dispatcher.utter_message(
            response="utter_guide_passage",
            section=str(passage.get("section") or ""),
            passage=str(passage["text"]),
        )
        urgent_help(dispatcher, tracker.latest_message or {})
        return []
