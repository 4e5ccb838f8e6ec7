"""WhatsApp via Meta's WhatsApp Cloud API (Rasa 3.6 has no connector for it).

Webhook: ``/webhooks/whatsapp/webhook``.
- ``GET``: Meta's verification handshake (``hub.mode=subscribe``, ``hub.verify_token`` compared in
  constant time, answers ``hub.challenge``); anything else is 403.
- ``POST``: ``X-Hub-Signature-256`` must be the HMAC-SHA256 of the raw body with the app secret
  (constant-time compare): missing → 401, wrong → 403, and nothing is processed. Malformed bodies →
  400. Accepted deliveries are answered 200 at once and handled in the background (Meta retries
  slow webhooks); each message id is handled once (Meta re-delivers). Text, interactive
  ``button_reply`` and ``list_reply`` are understood (a reply's id is the payload the bot sent);
  status callbacks are ignored; other types get a polite "text only" reply.

Replies go out through the Graph API (``{base}/{phone_number_id}/messages``, bearer token), with
retries on 5xx and timeouts; a reply that still cannot be delivered is logged as an error with the
message's recipient and kind (never silently dropped, never with the token).

The 24-hour customer service window: WhatsApp lets a business send free-form messages only within
24 hours of the user's last message. The bot only ever replies to a user's message, so it stays
inside the window; staff follow-ups on call-backs outside it would need approved templates and are
out of scope here (see the README).

Configuration (environment, never the repo): WHATSAPP_VERIFY_TOKEN, WHATSAPP_APP_SECRET,
WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_GRAPH_URL (default Meta's Graph API).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Iterable, List

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import ReplyGuard
from channels.shared import WHATSAPP_MAX_BODY, SharedSeen, receive_body, shared_redis

logger = logging.getLogger(__name__)

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v19.0"
TEXT_LIMIT = 4096
BODY_LIMIT = 1024  # interactive message body
BUTTON_TITLE = 20
BUTTON_ID = 256
MAX_BUTTONS = 3
ROW_TITLE = 24
ROW_DESCRIPTION = 72
MAX_ROWS = 10
ONLY_TEXT = "Sorry, I can only read text messages. Please type your question."


@dataclass(frozen=True)
class WhatsAppSettings:
    verify_token: str
    app_secret: str
    access_token: str
    phone_number_id: str
    graph_url: str = DEFAULT_GRAPH_URL
    timeout: float = 10.0
    retries: int = 3

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> WhatsAppSettings:
        given = credentials or {}

        def value(key: str, env: str, default: str = "") -> str:
            return str(given.get(key) or os.environ.get(env, default)).strip()

        return cls(
            verify_token=value("verify_token", "WHATSAPP_VERIFY_TOKEN"),
            app_secret=value("app_secret", "WHATSAPP_APP_SECRET"),
            access_token=value("access_token", "WHATSAPP_ACCESS_TOKEN"),
            phone_number_id=value("phone_number_id", "WHATSAPP_PHONE_NUMBER_ID"),
            graph_url=value("graph_url", "WHATSAPP_GRAPH_URL", DEFAULT_GRAPH_URL).rstrip("/"),
        )

    @property
    def configured(self) -> bool:
        return all((self.verify_token, self.app_secret, self.access_token, self.phone_number_id))

    def __repr__(self) -> str:  # never print secrets
        return (
            f"WhatsAppSettings(phone_number_id={self.phone_number_id!r}, "
            f"graph_url={self.graph_url!r})"
        )


# ---- pure helpers (unit-tested) -------------------------------------------------------------


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(
        expected, header[len("sha256=") :].encode("utf-8", "surrogateescape")
    )


@dataclass(frozen=True)
class Incoming:
    message_id: str
    sender: str
    text: str | None  # None: a type we cannot read


class MalformedPayload(ValueError):
    pass


def parse_delivery(payload: Any) -> List[Incoming]:
    """The user messages in a webhook delivery (status callbacks are skipped).

    A delivery that is not shaped like a webhook at all is malformed (400). A single message we
    cannot read is skipped and logged, so the other messages of the batch are still answered."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise MalformedPayload("expected an object with an 'entry' list")
    found: List[Incoming] = []
    for entry in payload["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise MalformedPayload("entry without 'changes'")
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise MalformedPayload("change without 'value'")
            messages = value.get("messages") or []
            if not isinstance(messages, list):
                raise MalformedPayload("'messages' is not a list")
            for message in messages:
                try:
                    found.append(_incoming(message))
                except MalformedPayload as error:
                    logger.warning("WhatsApp: skipped an unreadable message: %s", error)
    return found


def _field(message: Dict[str, Any], name: str) -> Dict[str, Any]:
    value = message.get(name)
    return value if isinstance(value, dict) else {}


def _incoming(message: Any) -> Incoming:
    if not isinstance(message, dict):
        raise MalformedPayload("message is not an object")
    message_id, sender, kind = message.get("id"), message.get("from"), message.get("type")
    if (
        not isinstance(message_id, str)
        or not isinstance(sender, str)
        or not message_id
        or not sender
    ):
        raise MalformedPayload("message without 'id' or 'from'")
    text: Any = None
    if kind == "text":
        text = _field(message, "text").get("body")
    elif kind == "interactive":
        interactive = _field(message, "interactive")
        if interactive.get("type") in ("button_reply", "list_reply"):
            reply = _field(interactive, str(interactive["type"]))
            text = reply.get("id") or reply.get("title")
    elif kind == "button":  # quick-reply button of a template message
        text = _field(message, "button").get("payload")
    if kind in ("text", "interactive", "button") and (
        not isinstance(text, str) or not text.strip()
    ):
        raise MalformedPayload(f"{kind} message without text")
    return Incoming(message_id, sender, text if isinstance(text, str) else None)


def whatsapp_markdown(text: str) -> str:
    """Markdown bold (``**x**`` / ``__x__``) to WhatsApp bold (``*x*``)."""
    return re.sub(r"(\*\*|__)(.+?)\1", r"*\2*", text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> List[str]:
    """Split on paragraph, line or word boundaries into chunks of at most ``limit`` characters."""
    chunks: List[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(
            rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit)
        )
        cut = cut if cut > 0 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def _clip(text: str, limit: int, one_line: bool = True) -> str:
    text = " ".join(str(text).split()) if one_line else str(text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def usable_buttons(buttons: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Buttons WhatsApp can carry: a payload of 1 to 256 characters becomes the reply id."""
    return [b for b in buttons if 0 < len(str(b.get("payload") or "")) <= BUTTON_ID]


def interactive_for(
    body: str, buttons: List[Dict[str, Any]], force_list: bool = False
) -> Dict[str, Any]:
    """Reply buttons (≤ 3) or a list (≤ 10 rows) for Rasa buttons."""
    usable = usable_buttons(buttons)
    if 0 < len(usable) <= MAX_BUTTONS and not force_list:
        return {
            "type": "button",
            "body": {"text": _clip(body, BODY_LIMIT, one_line=False)},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {
                            "id": str(b["payload"]),
                            "title": _clip(b["title"], BUTTON_TITLE),
                        },
                    }
                    for b in usable
                ]
            },
        }
    rows = [
        {
            "id": str(b["payload"]),
            "title": _clip(b["title"], ROW_TITLE),
            **(
                {"description": _clip(b["description"], ROW_DESCRIPTION)}
                if b.get("description")
                else {}
            ),
        }
        for b in usable[:MAX_ROWS]
    ]
    return {
        "type": "list",
        "body": {"text": _clip(body, BODY_LIMIT, one_line=False)},
        "action": {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]},
    }


def card_text(card: Dict[str, Any]) -> str:
    """One specialist card as a WhatsApp message (values exactly as in the card payload)."""
    fees = f"Fees: {card.get('fees', '')}"
    if card.get("no_booking_fees"):
        fees += " · No Booking Fees"
    return "\n".join(
        [
            f"*{card.get('name', '')}*, {card.get('specialty', '')}",
            f"{card.get('experience', '')} · {card.get('qualifications', '')}",
            f"{card.get('hospital', '')} ({card.get('city', '')})",
            f"Recommendation: {card.get('recommendation', '')}",
            fees,
        ]
    )


def book_payload(card: Dict[str, Any]) -> str:
    """The booking payload for a card's doctor (the mode is asked next)."""
    return "/book_appointment" + json.dumps(
        {"doctor_id": card.get("id", "")}, separators=(",", ":")
    )


# ---- output ---------------------------------------------------------------------------------


class GraphAPI:
    """Sends messages with retries; remembers nothing, logs failures without secrets."""

    def __init__(self, settings: WhatsAppSettings) -> None:
        self.settings = settings
        self.failures = 0

    async def send(self, to: str, message: Dict[str, Any]) -> bool:
        url = f"{self.settings.graph_url}/{self.settings.phone_number_id}/messages"
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            **message,
        }
        headers = {"Authorization": f"Bearer {self.settings.access_token}"}
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        for attempt in range(1, self.settings.retries + 1):
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    async with session.post(url, json=body, headers=headers) as reply:
                        if reply.status < 300:
                            return True
                        detail = (await reply.text())[:300]
                        if reply.status < 500 and reply.status != 429:
                            logger.error(
                                "WhatsApp send (%s to %s) refused: HTTP %s %s",
                                message.get("type"),
                                _mask(to),
                                reply.status,
                                detail,
                            )
                            break
                        logger.warning(
                            "WhatsApp send (%s to %s) failed: HTTP %s, attempt %d/%d",
                            message.get("type"),
                            _mask(to),
                            reply.status,
                            attempt,
                            self.settings.retries,
                        )
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                logger.warning(
                    "WhatsApp send (%s to %s) failed: %s, attempt %d/%d",
                    message.get("type"),
                    _mask(to),
                    type(error).__name__,
                    attempt,
                    self.settings.retries,
                )
            await asyncio.sleep(0.2 * 2 ** (attempt - 1))
        self.failures += 1
        logger.error("WhatsApp reply NOT delivered (%s to %s)", message.get("type"), _mask(to))
        return False


def _mask(number: str) -> str:
    return ("…" + number[-4:]) if len(number) > 4 else "…"


class WhatsAppOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    def __init__(self, api: GraphAPI) -> None:
        self.api = api

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for chunk in split_text(whatsapp_markdown(text)):
            await self.api.send(
                recipient_id, {"type": "text", "text": {"preview_url": False, "body": chunk}}
            )

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        text = whatsapp_markdown(text)
        usable = usable_buttons(buttons)
        if not usable:
            await self.send_text_message(recipient_id, text)
            return
        if len(usable) > MAX_ROWS:
            logger.warning(
                "WhatsApp: %d options, only the first %d are shown", len(usable), MAX_ROWS
            )
        if len(text) > BODY_LIMIT:
            # Long texts (e.g. specialist cards) go as text; the choice follows as a short list.
            await self.send_text_message(recipient_id, text)
            text = "Choose an option:"
        await self.api.send(
            recipient_id, {"type": "interactive", "interactive": interactive_for(text, buttons)}
        )

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("type") == "specialist_cards":
            await self._send_cards(recipient_id, custom)  # instead of the long combined text
            return
        await super().send_response(recipient_id, message)

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        # "urgent" markers are for rich channels: the urgent text itself was already sent first.
        return None

    async def _send_cards(self, recipient_id: str, payload: Dict[str, Any]) -> None:
        """A readable text card per doctor, then a list to pick one for booking."""
        if payload.get("intro"):
            await self.send_text_message(recipient_id, str(payload["intro"]))
        rows = []
        for card in payload.get("cards") or []:
            await self.send_text_message(recipient_id, card_text(card))
            details = " · ".join(
                [
                    str(card.get("city", "")),
                    str(card.get("experience", "")),
                    f"Fees {card.get('fees', '')}",
                ]
            )
            rows.append(
                {
                    "title": card.get("name", ""),
                    "payload": book_payload(card),
                    "description": details,
                }
            )
        if rows:
            choose = interactive_for(
                "Choose a doctor to request a consultation:", rows, force_list=True
            )
            await self.api.send(recipient_id, {"type": "interactive", "interactive": choose})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, attachment)


# ---- input ----------------------------------------------------------------------------------


class SeenMessages:
    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, message_id: str) -> bool:
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


class WhatsAppCloudInput(InputChannel):
    async def _first_time(self, message_id: str) -> bool:
        """Across replicas when REDIS_URL is set; if Redis fails, this process's memory (a rare
        duplicate answer is better than a message never answered)."""
        if self.shared is not None:
            try:
                return await self.shared.first_time(message_id)
            except Exception as error:  # noqa: BLE001 - redis raises several kinds
                logger.warning("whatsapp: shared dedup unavailable (%s)", type(error).__name__)
        return self.seen.first_time(message_id)

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> InputChannel:
        return cls(WhatsAppSettings.from_credentials(credentials))

    def __init__(self, settings: WhatsAppSettings) -> None:
        self.settings = settings
        self.api = GraphAPI(settings)
        self.seen = SeenMessages()
        self.guard = ReplyGuard()
        client = shared_redis()
        self.shared = SharedSeen(client) if client is not None else None
        self.tasks: set = set()
        if not settings.configured:
            logger.warning(
                "WhatsApp channel not configured (WHATSAPP_* variables): webhook answers 503"
            )

    def get_output_channel(self) -> OutputChannel:
        return WhatsAppOutput(self.api)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        whatsapp = Blueprint("whatsapp_webhook", __name__)

        @whatsapp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings.configured else "not configured"})

        @whatsapp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.settings.configured:
                return response.text("not configured", status=503)
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token") or ""
            challenge = request.args.get("hub.challenge") or ""
            if mode == "subscribe" and hmac.compare_digest(
                token.encode("utf-8", "surrogateescape"), self.settings.verify_token.encode()
            ):
                return response.text(challenge)
            return response.text("forbidden", status=403)

        @whatsapp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            if not self.settings.configured:
                return response.json({"error": "not configured"}, status=503)
            try:
                await receive_body(request, WHATSAPP_MAX_BODY)
            except PayloadTooLarge:
                return response.json({"error": "payload too large"}, status=413)
            header = request.headers.get("X-Hub-Signature-256")
            if not header:
                return response.json({"error": "missing signature"}, status=401)
            if not signature_ok(self.settings.app_secret, request.body or b"", header):
                return response.json({"error": "bad signature"}, status=403)
            try:
                messages = parse_delivery(json.loads(request.body or b""))
            except (ValueError, MalformedPayload) as error:
                return response.json({"error": f"malformed payload: {error}"}, status=400)
            fresh = [m for m in messages if await self._first_time(m.message_id)]
            if fresh:
                task = asyncio.ensure_future(
                    self._handle(fresh, request.app.ctx.agent, on_new_message)
                )
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            return response.json({"status": "ok"})

        return whatsapp

    async def _handle(
        self,
        messages: Iterable[Incoming],
        agent: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        output = self.get_output_channel()
        for message in messages:
            try:
                if message.text is None:
                    await output.send_text_message(message.sender, ONLY_TEXT)
                    continue
                await self.guard.handle(
                    agent,
                    on_new_message,
                    UserMessage(
                        message.text,
                        output,
                        message.sender,
                        input_channel=self.name(),
                        metadata={"message_id": message.message_id},
                    ),
                )
            except Exception:  # noqa: BLE001 - one bad message must not stop the others
                logger.exception("WhatsApp message %s could not be handled", message.message_id)
