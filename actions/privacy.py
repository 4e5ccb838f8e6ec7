"""A patient's rights over what this chat stores: the notice before the first personal question,
"delete my data", "what do you know about me" and "withdraw consent".

The conversation itself is erased by the tracker store when it saves the turn in which
``erasure_requested`` was set (spine_rasa/tracker_store.py), so this turn is not kept either; the
requests (bookings, call-backs) are erased here, per ``ERASURE_REQUESTS`` (``anonymise``, the
default, keeps each request without name, number and notes; ``delete`` removes it).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.booking import BOOKING_SLOTS, CONTACT_SLOTS
from actions.persistence import store
from spine_content.privacy_notice import NOTICE, fill, notice, notice_was_sent
from spine_db import erasure
from spine_db.masking import mask_mobile
from spine_db.store import StoreError

logger = logging.getLogger(__name__)

ERASURE_SLOT = "erasure_requested"
KINDS = {"bookings": "consultation request", "callbacks": "call-back request"}


class ActionAskPatientName(Action):
    """The forms' first personal question, with the privacy notice before it (once per
    conversation)."""

    def name(self) -> str:
        return "action_ask_patient_name"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if not notice_was_sent(tracker.events):
            dispatcher.utter_message(response=NOTICE, notice=notice())
        dispatcher.utter_message(response="utter_ask_patient_name")
        return []


def receipt(counts: Dict[str, int], messages: int, policy: str) -> str:
    """What was erased, in words: "I deleted this conversation (12 messages) and removed your
    name and number from 1 consultation request." """
    parts = [f"I deleted this conversation ({messages} message{'s' * (messages != 1)})"]
    kept = []
    for table, count in counts.items():
        if count:
            kept.append(f"{count} {KINDS.get(table, table)}{'s' * (count != 1)}")
    if kept:
        verb = "deleted" if policy == "delete" else "removed your name and number from"
        parts.append(f"{verb} {' and '.join(kept)}")
    return " and ".join(parts) + "."


def user_messages(tracker: Tracker) -> int:
    return sum(1 for e in tracker.events if e.get("event") == "user")


class ActionEraseMyData(Action):
    def name(self) -> str:
        return "action_erase_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        policy = erasure.policy()
        messages = user_messages(tracker)
        channel = tracker.get_latest_input_channel() or "unknown"
        try:
            counts = await asyncio.to_thread(store().erase_requests, tracker.sender_id, policy)
            detail = ", ".join(f"{t} {n}" for t, n in counts.items())
            # no sender id, name or number: only that an erasure happened, and its size
            await asyncio.to_thread(
                store().audit,
                "patient",
                "erasure",
                channel,
                f"erased by the patient in chat ({messages} messages); "
                f"requests {policy}d: {detail}",
            )
        except StoreError:
            dispatcher.utter_message(response="utter_store_unavailable")
            return []
        dispatcher.utter_message(
            response="utter_data_erased", receipt=receipt(counts, messages, policy)
        )
        logger.info("erasure in chat: %s messages, requests %s", messages, counts)
        return [SlotSet(ERASURE_SLOT, True)]


def summary(tracker: Tracker, requests: List[Dict[str, Any]]) -> str:
    """What is stored for this conversation, readable and masked (the patient may not be the
    only one who sees the screen)."""
    messages = user_messages(tracker)
    lines = [f"For this conversation we store your {messages} message{'s' * (messages != 1)}"]
    slots = tracker.slots
    held = []
    if slots.get("patient_name"):
        held.append("a patient name (" + str(slots["patient_name"])[:1] + "…)")
    if slots.get("mobile"):
        held.append(f"a mobile number ({mask_mobile(str(slots['mobile']))})")
    lines[0] += (" and, for requests made in this chat, " + " and ".join(held)) if held else ""
    lines[0] += "."
    for request in requests:
        kind = KINDS.get(request["kind"], request["kind"])
        lines.append(
            f"{request['reference']}: {kind}, status {request['status']}, for "
            f"{str(request['patient_name'])[:1]}… on {mask_mobile(str(request['mobile']))}."
        )
    lines.append(
        fill(
            "The chat is deleted {conversation_days} days after your last message, requests "
            '{request_days} days after they are closed. Say "delete my data" to erase it now, '
            'or "withdraw consent" to stop us contacting you. More at {privacy_url}'
        )
    )
    return "\n".join(lines)


class ActionMyData(Action):
    def name(self) -> str:
        return "action_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        try:
            requests = await asyncio.to_thread(store().requests_of, tracker.sender_id)
        except StoreError:
            dispatcher.utter_message(response="utter_store_unavailable")
            return []
        dispatcher.utter_message(response="utter_my_data", summary=summary(tracker, requests))
        return []


class ActionWithdrawConsent(Action):
    """Open requests of this conversation are cancelled; the answers of a form in progress are
    dropped."""

    def name(self) -> str:
        return "action_withdraw_consent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        try:
            withdrawn = await asyncio.to_thread(store().withdraw_consent, tracker.sender_id)
        except StoreError:
            dispatcher.utter_message(response="utter_store_unavailable")
            return []
        if withdrawn:
            text = "Understood: we will not contact you. I cancelled " + ", ".join(withdrawn) + "."
        else:
            text = "Understood: we will not contact you. There was no open request to cancel."
        text += ' Your chat is still stored; say "delete my data" to erase it.'
        dispatcher.utter_message(response="utter_consent_withdrawn", summary=text)
        return [
            *(SlotSet(slot, None) for slot in (*BOOKING_SLOTS, *CONTACT_SLOTS)),
            SlotSet("requested_slot", None),
        ]
