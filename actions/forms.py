"""Shared form behaviour: which messages count as answers, re-ask limits, and saying why.

Every booking/call-back slot uses a ``custom`` mapping: the form's validation action takes the
user's message as the answer to the question just asked (``requested_slot``) unless the message is
clearly something else (a question about the guide, "cancel", "call me", an emergency, a message
the classifiers thought might be urgent but were unsure of ...). When
nothing is taken, Rasa rejects the form for this turn and the interruption rules in
data/rules/forms.yml answer, then the form asks its question again. An answer that is taken but not
valid is refused with the reason (``utter_invalid_*``) and asked again; after
``MAX_INVALID_ANSWERS`` in a row the user is offered a call-back.
"""
from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any, Callable, Dict, FrozenSet, List

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import validators
from actions.settings import settings
from actions.validators import Parsed
from spine_nlu.red_flags import POSSIBLE_RED_FLAG_KEY

# Intents that are never an answer to a form question.
ALWAYS_INTERRUPT: FrozenSet[str] = frozenset(
    {
        "cancel",
        "emergency",
        "crisis",
        "emergency_crisis",
        "urgent",
        "request_callback",
        "change_booking_detail",
        # a patient's rights: "delete my data" is never a name, "don't call me" never a yes
        "delete_my_data",
        "withdraw_consent",
        "my_data",
    }
)
# Intents that interrupt when the message looks like a question, or is confidently classified
# and is not an answer ("Mayank Shah" may look like the article's author, but is a name;
# "yesterday" may look off-topic, but answers "which date?" and is told the date has passed).
SOFT_INTERRUPT: FrozenSet[str] = frozenset(
    {
        "faq",
        "article",
        "ask_dosage",
        "ask_diagnosis",
        "ask_treatment_decision",
        "health_other",
        "find_specialist",
        "ask_specialist_detail",
        "what_can_you_do",
        "bot_challenge",
        "out_of_scope",
        "multi_question",
        "guide_passage",
        "follow_up",
        "not_in_guide",
    }
)
CONFIDENT = 0.8
_QUESTION = re.compile(
    r"\?|^(what|whats|what's|why|how|when|where|which|who|is|are|can|could|do|does|will|would|"
    r"should|tell me|explain)\b",
    re.IGNORECASE,
)

Parser = Callable[[str, Tracker], Parsed]


def form_run(events: List[Dict[str, Any]], form: str) -> str | None:
    """Which run of ``form`` a submit belongs to: when its latest activation was stored. A
    submit retried after the conversation could not be saved sees the same activation (and the
    store keeps the request it made); the next booking starts a new run."""
    for event in reversed(events):
        if event.get("event") == "active_loop" and event.get("name") == form:
            return f"{form}@{event.get('timestamp')}"[:64]
    return None


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION.search(text.strip()))


def contact_parsers() -> Dict[str, Parser]:
    """Parsers of the contact details both forms ask for."""
    return {
        "patient_name": lambda text, _: validators.parse_name(text),
        "mobile": lambda text, _: validators.parse_mobile(text),
        "contact_consent": lambda text, _: validators.parse_yes_no(text),
    }


class GuidedFormValidation(FormValidationAction):
    """Base of the project's form validation actions (one subclass per form)."""

    #: slot -> parser of the user's text; subclasses fill it in ``parsers()``
    hard_interrupts: FrozenSet[str] = ALWAYS_INTERRUPT
    soft_interrupts: FrozenSet[str] = SOFT_INTERRUPT

    @abstractmethod
    def name(self) -> str:
        """Abstract, so that rasa-sdk does not register the base class as an action."""

    def parsers(self) -> Dict[str, Parser]:
        return contact_parsers()

    # --- extraction: is the latest message an answer to the question asked? ----------------

    def answer_text(self, slot: str, tracker: Tracker) -> str | None:
        if tracker.get_slot("requested_slot") != slot:
            return None
        message = tracker.latest_message or {}
        text = (message.get("text") or "").strip()
        if not text or text.startswith("/") or text.startswith("topic:"):
            return None  # buttons carry intents/entities: handled by mappings and rules
        intent = (message.get("intent") or {}).get("name")
        if intent in self.hard_interrupts:
            return None
        if message.get(POSSIBLE_RED_FLAG_KEY):
            # Possibly urgent (the classifiers leaned to emergency/crisis, too unsure to act on):
            # never an answer. The form stops for this turn; action_clarify_topic asks what was
            # meant and gives the urgent-help numbers, then the question comes again.
            return None
        if intent in self.soft_interrupts:
            confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
            if looks_like_question(text):
                return None
            if confidence >= CONFIDENT and not self.parsers()[slot](text, tracker).answers:
                return None
        return text

    def extract_answer(self, slot: str, tracker: Tracker) -> Dict[str, Any]:
        text = self.answer_text(slot, tracker)
        return {slot: text} if text is not None else {}

    async def extract_patient_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.extract_answer("patient_name", tracker)

    async def extract_mobile(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.extract_answer("mobile", tracker)

    async def extract_contact_consent(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.extract_answer("contact_consent", tracker)

    # --- validation: accept, or say why and count ---------------------------------------------

    def check(
        self,
        slot: str,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        parsed: Parsed | None = None,
    ) -> Dict[str, Any]:
        if parsed is None:
            parsed = self.parsers()[slot](str(value), tracker) if value is not None else Parsed()
        if parsed.ok:
            return {slot: parsed.value, "form_attempts": 0}
        return self.refuse(slot, parsed.error or "utter_invalid_yes_no", dispatcher, tracker)

    def refuse(
        self, slot: str, response: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Dict[str, Any]:
        """Say why the answer was not accepted; offer a call-back after too many tries."""
        attempts = int(tracker.get_slot("form_attempts") or 0) + 1
        dispatcher.utter_message(response=response, max_days=settings().booking_max_days)
        limit = max(1, settings().max_invalid_answers)
        if attempts % limit == 0 and self.form_name() != "callback_form":
            dispatcher.utter_message(response="utter_offer_callback")
            return {slot: None, "form_attempts": attempts, "callback_offered": True}
        return {slot: None, "form_attempts": attempts}

    async def validate_patient_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.check("patient_name", value, dispatcher, tracker)

    async def validate_mobile(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.check("mobile", value, dispatcher, tracker)

    async def validate_contact_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if value is True:
            return {"contact_consent": True, "form_attempts": 0}
        parsed = validators.parse_yes_no(str(value)) if value is not None else Parsed()
        if parsed.ok and parsed.value is False:
            return self.refuse("contact_consent", "utter_consent_needed", dispatcher, tracker)
        return self.check("contact_consent", value, dispatcher, tracker, parsed)
