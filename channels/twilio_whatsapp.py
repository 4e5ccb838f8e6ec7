"""WhatsApp through Twilio: Rasa's Twilio channel, plus the request signature check it lacks and
buttons rendered as numbered options.

Webhook: ``/webhooks/twilio_whatsapp/webhook``. Every request must carry ``X-Twilio-Signature``:
base64(HMAC-SHA1(auth token, full URL + each POST parameter name and value, sorted by name)),
compared in constant time; otherwise 403 and nothing is processed. The URL is the public one Twilio
calls (``TWILIO_WEBHOOK_URL``; behind a proxy the server's own view of its URL differs).

Buttons become "1. …" lines; the user's reply "1" is sent to the bot as that button's payload
(read back from the conversation, so any replica understands it). A ``MessageSid`` Twilio sends
again is answered once.
Configuration (environment): TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_NUMBER
(``whatsapp:+1…``), TWILIO_WEBHOOK_URL.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.twilio import TwilioInput, TwilioOutput
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import ReplyGuard
from channels.shared import TWILIO_MAX_BODY, receive_body
from spine_db.config import database_url
from spine_db.whatsapp_queue import WhatsAppQueue, queue_for
from spine_rasa.tracker_store import ConversationStoreUnavailable

logger = logging.getLogger(__name__)


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's documented request signature."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(
    auth_token: str, url: str, params: Mapping[str, str], given: str | None
) -> bool:
    if not given or not auth_token:
        return False
    expected = twilio_signature(auth_token, url, params).encode()
    return hmac.compare_digest(expected, given.encode("utf-8", "surrogateescape"))


def last_choices(events: Iterable[Any]) -> List[str]:
    """The payloads the numbers of the bot's last buttons stand for: those of the last bot
    message with buttons since the user's last message (numbers answer the latest question
    only)."""
    for event in reversed(list(events)):
        if isinstance(event, UserUttered):
            return []
        if isinstance(event, BotUttered) and event.data.get("buttons"):
            return numbered("", event.data["buttons"])[1]
    return []


def numbered(text: str, buttons: List[Dict[str, Any]]) -> Tuple[str, List[str]]:
    """The text with the buttons as numbered options, and the payload of each number."""
    lines = [f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, start=1)]
    if not lines:
        return text, []
    body = f"{text}\n\n" + "\n".join(lines) + "\n\nReply with a number."
    return body, [str(b.get("payload", "")) for b in buttons]


class NumberedTwilioOutput(TwilioOutput):
    """Twilio output that sends buttons as numbered options. Which payload a number stands for is
    read back from the conversation (:func:`last_choices`), so any replica understands it."""

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        body, _ = numbered(text, buttons)
        await self.send_text_message(recipient_id, body)

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        return None  # cards and markers were already sent as text


class SignedTwilioInput(TwilioInput):
    @classmethod
    def name(cls) -> str:
        return "twilio_whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> InputChannel:
        given = credentials or {}

        def value(key: str, env: str) -> str:
            return str(given.get(key) or os.environ.get(env, "")).strip()

        return cls(
            value("account_sid", "TWILIO_ACCOUNT_SID"),
            value("auth_token", "TWILIO_AUTH_TOKEN"),
            value("twilio_number", "TWILIO_NUMBER"),
            webhook_url=value("webhook_url", "TWILIO_WEBHOOK_URL"),
        )

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        webhook_url: str = "",
    ) -> None:
        super().__init__(account_sid, auth_token, twilio_number, debug_mode=False)
        self.webhook_url = webhook_url
        self.guard = ReplyGuard()
        self._queue: WhatsAppQueue | None = None

    def get_output_channel(self) -> OutputChannel:
        return NumberedTwilioOutput(self.account_sid, self.auth_token, self.twilio_number)

    async def _first_time(self, message_sid: str | None, sender: str) -> bool:
        """Twilio retries a webhook it timed out on: a MessageSid is answered once, across
        replicas (the WhatsApp inbox's unique ids). Without the database, answer anyway."""
        if not message_sid:
            return True
        try:
            if self._queue is None:
                self._queue = queue_for(database_url())
            return await asyncio.to_thread(self._queue.seen_once, message_sid[:128], sender)
        except Exception as error:  # noqa: BLE001 - a rare duplicate beats no answer
            logger.warning("Twilio de-duplication unavailable (%s)", type(error).__name__)
            return True

    @staticmethod
    async def _choices(agent: Any, sender: str) -> List[str]:
        try:
            tracker = await agent.tracker_store.retrieve(sender)
        except (Exception, ConversationStoreUnavailable):  # noqa: BLE001 - numbers stay text
            return []
        return last_choices(tracker.events) if tracker is not None else []

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        twilio = Blueprint("twilio_whatsapp_webhook", __name__)

        @twilio.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.auth_token else "not configured"})

        @twilio.route("/webhook", methods=["POST"], stream=True)
        async def message(request: Request) -> HTTPResponse:
            if not self.auth_token:
                return response.text("not configured", status=503)
            try:
                await receive_body(request, TWILIO_MAX_BODY)
            except PayloadTooLarge:
                return response.text("payload too large", status=413)
            params = {key: request.form.get(key) for key in request.form}
            url = self.webhook_url or request.url
            if not signature_valid(
                self.auth_token, url, params, request.headers.get("X-Twilio-Signature")
            ):
                return response.text("forbidden", status=403)
            sender, text = params.get("From"), (params.get("Body") or "").strip()
            if not sender or not text:
                return response.text("", status=204)
            if not await self._first_time(params.get("MessageSid"), sender):
                return response.text("", status=204)  # a retry of a message already answered
            if text.isdecimal() and text.isascii():
                choices = await self._choices(request.app.ctx.agent, sender)
                if 1 <= int(text) <= len(choices):
                    text = choices[int(text) - 1]
            try:
                await self.guard.handle(
                    request.app.ctx.agent,
                    on_new_message,
                    UserMessage(text, self.get_output_channel(), sender, input_channel=self.name()),
                )
            except Exception:  # noqa: BLE001 - Twilio gets its 204; the failure is logged
                logger.exception("Twilio message from …%s could not be handled", sender[-4:])
            return response.text("", status=204)

        return twilio
