"""Booking a consultation: the form's validation, its custom questions, submit, change, cancel."""
from __future__ import annotations

import asyncio
import logging
import re
from datetime import date
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import validators
from actions.forms import GuidedFormValidation, Parser, contact_parsers, form_run
from actions.persistence import store
from actions.settings import local_now, settings
from actions.validators import CONSULT_MODES, Parsed, format_date
from spine_content.privacy_notice import consent_record
from spine_content.specialists_directory import (
    Specialist,
    booking_payload,
    cards_message,
    find_by_name,
    load_directory,
    short_name,
)
from spine_db.masking import mask_mobile
from spine_db.store import BookingRequest, StoreError

logger = logging.getLogger(__name__)

BOOKING_SLOTS = (
    "doctor_id",
    "consult_mode",
    "preferred_date",
    "preferred_time",
    "booking_confirmed",
)
CONTACT_SLOTS = ("patient_name", "mobile", "contact_consent")
FIELD_LABELS = {
    "doctor_id": "doctor",
    "consult_mode": "consultation type",
    "preferred_date": "date",
    "preferred_time": "time",
    "patient_name": "name",
    "mobile": "mobile number",
}
_HIM = r"\b(him|his|he|this doctor|that doctor|same doctor|this one|that one|her|she)\b"


def specialist_by_id(specialist_id: str | None) -> Specialist | None:
    return next((s for s in load_directory().specialists if s.id == specialist_id), None)


def today() -> date:
    return local_now(settings().timezone).date()


def parse_doctor(text: str, _: Tracker | None = None) -> Parsed:
    """A doctor id, or a name that matches exactly one listed specialist."""
    if specialist_by_id(text):
        return Parsed(text)
    found = find_by_name(text, load_directory())
    if len(found) == 1:
        return Parsed(found[0].id)
    return Parsed(error="utter_invalid_doctor")


def booking_summary(slots: Dict[str, Any]) -> Dict[str, str]:
    """Template values for utter_booking_summary / utter_booking_done."""
    specialist = specialist_by_id(slots.get("doctor_id"))
    chosen = slots.get("preferred_date")
    return {
        "doctor_name": specialist.name if specialist else "not chosen",
        "mode_label": CONSULT_MODES.get(slots.get("consult_mode") or "", "not chosen"),
        "date_label": format_date(date.fromisoformat(chosen)) if chosen else "not chosen",
        "preferred_time": slots.get("preferred_time") or "not chosen",
        "patient_name": slots.get("patient_name") or "",
        "mobile_label": mask_mobile(slots.get("mobile") or ""),
    }


class ValidateBookingForm(GuidedFormValidation):
    def name(self) -> str:
        return "validate_booking_form"

    def parsers(self) -> Dict[str, Parser]:
        return {
            **contact_parsers(),
            "doctor_id": parse_doctor,
            "consult_mode": lambda text, _: validators.parse_consult_mode(text),
            "preferred_date": lambda text, _: validators.parse_date(
                text, today(), settings().booking_max_days
            ),
            "preferred_time": lambda text, _: validators.parse_time(text),
            "booking_confirmed": lambda text, _: validators.parse_yes_no(text),
        }

    async def extract_doctor_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if tracker.get_slot("doctor_id"):
            return {}
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        text = message.get("text") or ""
        requested = tracker.get_slot("requested_slot")
        if requested is None or intent == "book_appointment":
            # At the start ("book with Dr Bhati", "book with him").
            named = find_by_name(text, load_directory()) if not text.startswith("/") else []
            if len(named) == 1:
                return {"doctor_id": named[0].id}
            shown = tracker.get_slot("specialist_ids") or []
            if len(shown) == 1 and re.search(_HIM, text.lower()):
                return {"doctor_id": shown[0]}
            return {}
        return self.extract_answer("doctor_id", tracker)

    async def extract_consult_mode(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if tracker.get_slot("consult_mode"):
            return {}
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        text = message.get("text") or ""
        if intent == "book_appointment" and not text.startswith("/"):
            parsed = validators.parse_consult_mode(text)  # "book an online consultation"
            return {"consult_mode": parsed.value} if parsed.ok else {}
        return self.extract_answer("consult_mode", tracker)

    async def extract_preferred_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.extract_answer("preferred_date", tracker)

    async def extract_preferred_time(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.extract_answer("preferred_time", tracker)

    async def extract_booking_confirmed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.extract_answer("booking_confirmed", tracker)

    async def validate_doctor_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.check("doctor_id", value, dispatcher, tracker)

    async def validate_consult_mode(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if value in CONSULT_MODES:
            return {"consult_mode": value}
        return self.check("consult_mode", value, dispatcher, tracker)

    async def validate_preferred_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        result = self.check("preferred_date", value, dispatcher, tracker)
        if isinstance(result.get("preferred_date"), date):
            result["preferred_date"] = result["preferred_date"].isoformat()
        return result

    async def validate_preferred_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self.check("preferred_time", value, dispatcher, tracker)

    async def validate_booking_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if value is True:
            return {"booking_confirmed": True}
        parsed = validators.parse_yes_no(str(value)) if value is not None else Parsed()
        if parsed.ok and parsed.value is False:
            dispatcher.utter_message(response="utter_ask_what_to_change")
            return {"booking_confirmed": None}
        if parsed.ok:
            return {"booking_confirmed": True, "form_attempts": 0}
        return self.refuse("booking_confirmed", "utter_invalid_yes_no", dispatcher, tracker)


class ActionAskDoctorId(Action):
    """Asks which doctor, with the cards of the doctors just shown (or all of them)."""

    def name(self) -> str:
        return "action_ask_doctor_id"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        directory = load_directory()
        shown_ids = tracker.get_slot("specialist_ids") or []
        shown = [s for s in directory.specialists if s.id in shown_ids]
        choices = shown if len(shown) > 1 else list(directory.specialists)
        if tracker.get_slot("form_attempts"):
            # Asked again after an answer that matched no doctor: names only, not all the cards.
            dispatcher.utter_message(
                response="utter_ask_doctor_again",
                buttons=[
                    {"title": short_name(s), "payload": booking_payload(s.id)} for s in choices
                ],
            )
            return []
        message = cards_message(choices, "Which specialist would you like to book with?")
        dispatcher.utter_message(
            response="utter_specialist_cards",
            cards_text=message["text"],
            custom=message["custom"],
            buttons=message["buttons"],
        )
        return []


class ActionAskPreferredDate(Action):
    """Asks for the date, saying how far ahead a request may be (BOOKING_MAX_DAYS)."""

    def name(self) -> str:
        return "action_ask_preferred_date"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        dispatcher.utter_message(
            response="utter_ask_preferred_date", max_days=settings().booking_max_days
        )
        return []


class ActionAskBookingConfirmed(Action):
    """Shows the summary of the request and asks to send it."""

    def name(self) -> str:
        return "action_ask_booking_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_booking_summary", **booking_summary(tracker.slots))
        return []


class ActionSubmitBooking(Action):
    """Stores the request (one transaction), then tells the user the reference.

    If the write fails the user is told so and every answer stays in the slots, so "try again"
    goes straight back to the summary."""

    def name(self) -> str:
        return "action_submit_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        slots = tracker.slots
        specialist = specialist_by_id(slots.get("doctor_id"))
        if not slots.get("booking_confirmed") or specialist is None:
            return []
        request = BookingRequest(
            conversation_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel(),
            doctor_id=specialist.id,
            doctor_name=specialist.name,
            consult_mode=str(slots.get("consult_mode")),
            preferred_date=date.fromisoformat(str(slots.get("preferred_date"))),
            preferred_time=str(slots.get("preferred_time")),
            patient_name=str(slots.get("patient_name")),
            mobile=str(slots.get("mobile")),
            contact_consent=bool(slots.get("contact_consent")),
            form_run=form_run(tracker.events, "booking_form"),
            **consent_record(tracker.events),
        )
        try:
            reference = await asyncio.to_thread(store().save_booking, request)
        except StoreError:
            dispatcher.utter_message(response="utter_booking_failed")
            return [SlotSet("booking_confirmed", None)]
        summary = booking_summary(slots)
        fee_note = " There are no booking fees." if specialist.no_booking_fees else ""
        dispatcher.utter_message(
            response="utter_booking_done", reference=reference, fee_note=fee_note, **summary
        )
        logger.info("booking %s stored", reference)
        return [
            SlotSet("booking_reference", reference),
            *(SlotSet(slot, None) for slot in BOOKING_SLOTS),
            SlotSet("form_attempts", 0),
        ]


class ActionChangeBookingDetail(Action):
    """ "change the date": clears that answer so the form asks it again."""

    def name(self) -> str:
        return "action_change_booking_detail"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        field = validators.field_to_change((tracker.latest_message or {}).get("text") or "")
        if field is None:
            dispatcher.utter_message(response="utter_ask_what_to_change")
            return (
                [SlotSet("booking_confirmed", None)]
                if tracker.get_slot("booking_confirmed") is not None
                else []
            )
        dispatcher.utter_message(response="utter_changing_field", field_label=FIELD_LABELS[field])
        return [
            SlotSet(field, None),
            SlotSet("booking_confirmed", None),
            SlotSet("form_attempts", 0),
        ]


class ActionCancelForm(Action):
    """Stops the booking or call-back: nothing is sent; the answers given (contact details and
    consent included) are dropped."""

    def name(self) -> str:
        return "action_cancel_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_form_cancelled")
        return [
            *(SlotSet(slot, None) for slot in (*BOOKING_SLOTS, *CONTACT_SLOTS)),
            SlotSet("callback_offered", None),
            SlotSet("form_attempts", 0),
            SlotSet("requested_slot", None),
        ]
