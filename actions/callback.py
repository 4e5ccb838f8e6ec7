"""Call-back handoff: collect name and mobile (reusing the booking form's), store the request
linked to the conversation, say when support will call, and flag the conversation."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.forms import ALWAYS_INTERRUPT, GuidedFormValidation, form_run
from actions.persistence import store
from actions.settings import local_now, settings
from spine_content.privacy_notice import consent_record
from spine_db.masking import mask_mobile
from spine_db.store import CallbackRequest, StoreError

logger = logging.getLogger(__name__)


class ValidateCallbackForm(GuidedFormValidation):
    # "call me" while the call-back form asks its questions is not an interruption.
    hard_interrupts = ALWAYS_INTERRUPT - {"request_callback"}

    def name(self) -> str:
        return "validate_callback_form"


def callback_reason(tracker: Tracker) -> str:
    if tracker.get_slot("callback_offered"):
        return "offered after repeated invalid answers"
    return "requested by the user"


class ActionSubmitCallback(Action):
    def name(self) -> str:
        return "action_submit_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        name, mobile = tracker.get_slot("patient_name"), tracker.get_slot("mobile")
        if not (name and mobile and tracker.get_slot("contact_consent")):
            return []
        request = CallbackRequest(
            conversation_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel(),
            patient_name=str(name),
            mobile=str(mobile),
            contact_consent=True,
            reason=callback_reason(tracker),
            booking_reference=tracker.get_slot("booking_reference"),
            form_run=form_run(tracker.events, "callback_form"),
            **consent_record(tracker.events),
        )
        try:
            reference = await asyncio.to_thread(store().save_callback, request)
        except StoreError:
            dispatcher.utter_message(response="utter_callback_failed")
            return []
        hours = settings().support_hours
        now: datetime = local_now(hours.timezone)
        dispatcher.utter_message(
            response="utter_callback_done",
            patient_name=name,
            reference=reference,
            support_hours=hours.describe(),
            mobile_label=mask_mobile(str(mobile)),
            when=hours.when_we_call(now),
        )
        logger.info("call-back %s stored", reference)
        return [
            SlotSet("callback_requested", True),
            SlotSet("callback_reference", reference),
            SlotSet("form_attempts", 0),
            SlotSet("callback_offered", None),
        ]
