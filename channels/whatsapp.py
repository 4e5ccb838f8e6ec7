"""WhatsApp via Meta's WhatsApp Cloud API (Rasa 3.6 has no connector for it).

Webhook: ``/webhooks/whatsapp/webhook``.
- ``GET``: Meta's verification handshake (``hub.mode=subscribe``, ``hub.verify_token`` compared in
  constant time, answers ``hub.challenge``); anything else is 403.
- ``POST``: ``X-Hub-Signature-256`` must be the HMAC-SHA256 of the raw body with the app secret
  (constant-time compare): missing → 401, wrong → 403, and nothing is processed. Malformed bodies →
  400. Accepted messages are stored in the durable inbox (spine_db/whatsapp_queue.py) before the
  200; if they cannot be stored the answer is 503 and Meta delivers again. A redelivered message id
  is stored once. Text, interactive ``button_reply`` and ``list_reply`` are understood (a reply's
  id is the payload the bot sent); status callbacks are ignored; other types get a polite "text
  only" reply.

A worker in every replica (started with the server) claims stored messages, oldest first and one
at a time per patient, runs each through the reply guard and stores its replies in the outbox
while marking it done; a message a dead replica had claimed is taken over when its claim runs
out. Replies go out from the outbox through the Graph API (``{base}/{phone_number_id}/messages``,
bearer token) in order per patient, one try at a time: 429 / 5xx / timeouts are tried again after
``Retry-After`` or a backoff (1 s doubling to 10 min) until sent or until the 24-hour window
closes; those and the ones refused (other 4xx) are marked failed, logged with the recipient's last
four digits and shown to staff. Never with the token.

The 24-hour customer service window: WhatsApp lets a business send free-form messages only within
24 hours of the user's last message. The bot only ever replies to a user's message, so it stays
inside the window; staff follow-ups on call-backs outside it would need approved templates and are
out of scope here (see docs/product.md).

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
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Iterable, List

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import ReplyGuard
from channels.shared import WHATSAPP_MAX_BODY, receive_body
from spine_db.config import database_url
from spine_db.masking import mask_for_logs
from spine_db.whatsapp_queue import Delivery, Reply, WhatsAppQueue, queue_for
from spine_rasa.tracker_store import ConversationStoreUnavailable

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
            str(card.get("location") or f"{card.get('hospital', '')} ({card.get('city', '')})"),
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


@dataclass(frozen=True)
class SendResult:
    ok: bool
    permanent: bool = False  # refused (4xx other than 429): retrying cannot help
    retry_after: float | None = None  # seconds, from the Retry-After header
    error: str = ""


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is rare for the Graph API: ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class GraphAPI:
    """One attempt per call, logged without secrets; the outbox decides about retries."""

    def __init__(self, settings: WhatsAppSettings) -> None:
        self.settings = settings

    async def send(self, to: str, message: Dict[str, Any]) -> SendResult:
        url = f"{self.settings.graph_url}/{self.settings.phone_number_id}/messages"
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            **message,
        }
        headers = {"Authorization": f"Bearer {self.settings.access_token}"}
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(url, json=body, headers=headers) as reply:
                    if reply.status < 300:
                        return SendResult(True)
                    detail = (await reply.text())[:200]
                    error = f"HTTP {reply.status} {detail}"
                    if reply.status < 500 and reply.status != 429:
                        logger.error(
                            "WhatsApp send (%s to %s) refused: %s",
                            message.get("type"),
                            mask_for_logs(to),
                            error,
                        )
                        return SendResult(False, permanent=True, error=error)
                    logger.warning(
                        "WhatsApp send (%s to %s) failed: HTTP %s",
                        message.get("type"),
                        mask_for_logs(to),
                        reply.status,
                    )
                    return SendResult(
                        False,
                        retry_after=retry_after(reply.headers.get("Retry-After")),
                        error=error,
                    )
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.warning(
                "WhatsApp send (%s to %s) failed: %s",
                message.get("type"),
                mask_for_logs(to),
                type(error).__name__,
            )
            return SendResult(False, error=type(error).__name__)


def stored_replies(events: Iterable[Any], message_id: str) -> List[Dict[str, Any]] | None:
    """The bot messages stored after the user message ``message_id`` (up to the next user
    message), as output-channel messages; None when that message is not stored."""
    replies: List[Dict[str, Any]] | None = None
    for event in events:
        if isinstance(event, UserUttered):
            if replies is not None:
                break
            if event.message_id == message_id:
                replies = []
        elif replies is not None and isinstance(event, BotUttered):
            replies.append({"text": event.text, **{k: v for k, v in event.data.items() if v}})
    return replies


class RecordedReplies:
    """Stands in for the Graph API while a message is processed: the replies are kept, then
    stored in the outbox with the delivery marked done (one transaction)."""

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []

    async def send(self, to: str, message: Dict[str, Any]) -> SendResult:
        self.messages.append(message)
        return SendResult(True)


class WhatsAppOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    def __init__(self, api: GraphAPI | RecordedReplies) -> None:
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


# How long a replica holds a claimed delivery or reply before another may take it over (it died).
DELIVERY_LEASE = float(os.environ.get("WHATSAPP_CLAIM_LEASE", "") or 60)
REPLY_LEASE = 30.0
MAX_BACKOFF = 600.0  # seconds between two tries of one reply, at most
WORKERS = 8  # messages and replies handled at once per replica


def backoff(attempts: int) -> float:
    """Seconds before the next try of a reply that failed ``attempts`` times: 1, 2, 4, ... 600."""
    return float(min(MAX_BACKOFF, 2 ** max(0, attempts)))


class WhatsAppCloudInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> InputChannel:
        return cls(WhatsAppSettings.from_credentials(credentials))

    def __init__(self, settings: WhatsAppSettings) -> None:
        self.settings = settings
        self.api = GraphAPI(settings)
        self.guard = ReplyGuard()
        self._queue: WhatsAppQueue | None = None
        self._wake: asyncio.Event | None = None
        self._urgent_sent: OrderedDict[str, None] = OrderedDict()  # while the database is down
        self.tasks: set = set()
        if not settings.configured:
            logger.warning(
                "WhatsApp channel not configured (WHATSAPP_* variables): webhook answers 503"
            )

    @property
    def queue(self) -> WhatsAppQueue:
        if self._queue is None:
            self._queue = queue_for(database_url())
        return self._queue

    def get_output_channel(self) -> OutputChannel:
        return WhatsAppOutput(self.api)

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        whatsapp = Blueprint("whatsapp_webhook", __name__)

        @whatsapp.listener("after_server_start")
        async def start_worker(app: Any, _: Any) -> None:
            if self.settings.configured:
                self._wake = asyncio.Event()
                task = asyncio.ensure_future(self._work(app, on_new_message))
                self.tasks.add(task)

        @whatsapp.listener("before_server_stop")
        async def stop_worker(_: Any, __: Any) -> None:
            for task in list(self.tasks):
                task.cancel()

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
            if messages:
                rows = [(m.message_id, m.sender, m.text) for m in messages]
                try:
                    # Stored before the 200: Meta never resends an acknowledged delivery.
                    await asyncio.to_thread(self.queue.accept, rows)
                except Exception as error:  # noqa: BLE001 - any failure: Meta must retry
                    logger.error("WhatsApp delivery not stored (%s): 503", type(error).__name__)
                    await self._urgent_without_store(request.app.ctx.agent, messages)
                    return response.json({"error": "try again"}, status=503)
                self.wake()
            return response.json({"status": "ok"})

        return whatsapp

    async def _urgent_without_store(self, agent: Any, messages: List[Incoming]) -> None:
        """The database is down, so Meta will deliver these again later; an urgent message gets
        its urgent reply now, straight through the Graph API, once per message id (it may come
        once more when the stored message is answered after the outage)."""
        for message in messages:
            if message.text is None or message.message_id in self._urgent_sent:
                continue
            try:
                level = await self.guard.urgent_only(
                    agent,
                    UserMessage(
                        message.text,
                        WhatsAppOutput(self.api),
                        message.sender,
                        input_channel=self.name(),
                    ),
                )
            except Exception:  # noqa: BLE001 - never let this stop the 503
                logger.exception("WhatsApp: urgent reply without the database failed")
                continue
            if level is not None:
                self._urgent_sent[message.message_id] = None
                while len(self._urgent_sent) > 10000:
                    self._urgent_sent.popitem(last=False)

    async def _work(
        self, app: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Claims stored deliveries and due replies (also those a dead replica left) until the
        server stops; sleeps until woken by a new delivery or for a second."""
        slots = asyncio.Semaphore(WORKERS)
        # A claim must outlast the guard's answer, or a second worker would run the message too.
        lease = max(DELIVERY_LEASE, self.guard.settings.reply_deadline + 5)
        while True:
            busy = False
            if self._wake is not None:
                # Cleared before claiming, so a wake-up that comes while claiming is not lost.
                self._wake.clear()
            try:
                await slots.acquire()
                delivery = await asyncio.to_thread(self.queue.claim_delivery, lease)
                if delivery is None:
                    slots.release()
                else:
                    busy = True
                    self._spawn(self._process(app, on_new_message, delivery), slots)
                await slots.acquire()
                reply = await asyncio.to_thread(self.queue.claim_reply, REPLY_LEASE)
                if reply is None:
                    slots.release()
                else:
                    busy = True
                    self._spawn(self._send(reply), slots)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - database down: try again shortly
                logger.error("WhatsApp queue unavailable (%s)", type(error).__name__)
                await asyncio.sleep(1)
                continue
            if not busy and self._wake is not None:
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    def _spawn(self, work: Awaitable[None], slots: asyncio.Semaphore) -> None:
        async def run() -> None:
            try:
                await work
            finally:
                slots.release()
                self.wake()

        task = asyncio.ensure_future(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _process(
        self,
        app: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        delivery: Delivery,
    ) -> None:
        """Runs one message (the guard answers whatever fails) and stores its replies; if they
        cannot be stored, the claim runs out and the message is run again."""
        recorded = RecordedReplies()
        output = WhatsAppOutput(recorded)
        try:
            answered = await self._answered_before(app.ctx.agent, delivery)
            if answered is not None:
                # Rasa stored this message's turn, then the replica died before the outbox
                # commit: send the replies it stored instead of running the message again.
                for reply in answered:
                    await output.send_response(delivery.sender, reply)
            elif delivery.text is None:
                await output.send_text_message(delivery.sender, ONLY_TEXT)
            else:
                await self.guard.handle(
                    app.ctx.agent,
                    on_new_message,
                    UserMessage(
                        delivery.text,
                        output,
                        delivery.sender,
                        input_channel=self.name(),
                        message_id=delivery.message_id,
                        metadata={"message_id": delivery.message_id},
                    ),
                )
            await asyncio.to_thread(self.queue.finish_delivery, delivery, recorded.messages)
        except (Exception, ConversationStoreUnavailable):  # noqa: BLE001 - run again later
            logger.exception("WhatsApp message %s could not be handled", delivery.message_id)

    @staticmethod
    async def _answered_before(agent: Any, delivery: Delivery) -> List[Dict[str, Any]] | None:
        """The bot's stored replies to this message when its turn is already in the
        conversation (only a delivery claimed before can be), else None."""
        if delivery.attempts < 2:
            return None
        tracker = await agent.tracker_store.retrieve(delivery.sender)
        return stored_replies(tracker.events if tracker else [], delivery.message_id)

    async def _send(self, reply: Reply) -> None:
        result = await self.api.send(reply.recipient, reply.body)
        kind = reply.body.get("type")
        if result.ok:
            await asyncio.to_thread(self.queue.reply_sent, reply)
        elif result.permanent:
            await asyncio.to_thread(self.queue.reply_failed, reply, result.error)
            logger.error(
                "WhatsApp reply NOT delivered (%s to %s)", kind, mask_for_logs(reply.recipient)
            )
        else:
            delay = max(result.retry_after or 0.0, backoff(reply.attempts))
            await asyncio.to_thread(self.queue.reply_retry, reply, delay, result.error)
            logger.warning(
                "WhatsApp reply (%s to %s) try %d failed; next in %.0fs",
                kind,
                mask_for_logs(reply.recipient),
                reply.attempts + 1,
                delay,
            )
