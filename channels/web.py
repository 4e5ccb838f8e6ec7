"""The website widget's channel: Rasa's REST webhook, made safe to retry.

``POST /webhooks/webchat/webhook`` with ``{"sender", "message", "message_id"}``. The widget retries
a message after a network error with the same ``message_id``; a message already handled returns
the replies it produced the first time, and a retry that arrives while the first attempt is still
being processed waits for it — so a retry never makes the bot see the message twice. This holds
across the Rasa workers and replicas: through Redis when REDIS_URL is set (production), else
through the machine's local SQLite file (channels/shared.py).
Bad requests get a 400 with a JSON ``error``; nothing is passed to the bot.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, List, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import ReplyGuard
from channels.shared import WEBCHAT_MAX_BODY, SharedReplies, receive_body, shared_claims

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
MAX_ID_CHARS = 128
# Widget sender ids are random (UUIDs); conversations are stored as "web:<id>", so a web client can
# never address another channel's conversation (a WhatsApp user's id is their phone number).
SENDER_ID = re.compile(r"^[A-Za-z0-9-]{16,64}$")
SENDER_PREFIX = "web:"
Replies = List[Dict[str, Any]]


class BadRequest(ValueError):
    pass


def parse_body(body: Any) -> Tuple[str, str, str]:
    """``(sender, message, message_id)`` from the request body, or ``BadRequest``."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    sender, message, message_id = body.get("sender"), body.get("message"), body.get("message_id")
    for name, value, limit in (
        ("sender", sender, MAX_ID_CHARS),
        ("message_id", message_id, MAX_ID_CHARS),
        ("message", message, MAX_MESSAGE_CHARS),
    ):
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"'{name}' must be a non-empty string")
        if len(value) > limit:
            raise BadRequest(f"'{name}' is longer than {limit} characters")
    if not SENDER_ID.match(str(sender)):
        raise BadRequest("'sender' must be the widget's random id (16-64 letters, digits or '-')")
    return SENDER_PREFIX + str(sender), str(message), str(message_id)


ERASED = "erased"  # the custom marker of the "delete my data" receipt (domain.yml)


class ReplyCache:
    """Replies per (sender, message_id); in-flight messages are shared with their retries."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self._done: OrderedDict[Tuple[str, str], Replies] = OrderedDict()
        self._running: Dict[Tuple[str, str], asyncio.Future[Replies]] = {}

    async def run_once(
        self, key: Tuple[str, str], handle: Callable[[], Awaitable[Replies]]
    ) -> Replies:
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key]
        task = self._running.get(key)
        if task is None:
            # Its own task: a client that disconnects (Sanic cancels the request) must not cancel
            # the bot half-way, or the retry would run the message a second time.
            task = asyncio.ensure_future(handle())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def forget(self, sender: str, keep: str) -> None:
        """Drop the remembered replies of ``sender`` but ``keep`` (the erasure receipt)."""
        for key in [k for k in self._done if k[0] == sender and k[1] != keep]:
            del self._done[key]

    def _finished(self, key: Tuple[str, str], task: asyncio.Future[Replies]) -> None:
        self._running.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # not remembered: a retry runs it again
        self._done[key] = task.result()
        while len(self._done) > self.size:
            self._done.popitem(last=False)


class WebChatInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> InputChannel:
        return cls(int((credentials or {}).get("remember_messages", 2000)))

    def __init__(self, remember_messages: int = 2000) -> None:
        self.cache = ReplyCache(remember_messages)
        self.guard = ReplyGuard()
        self.shared = SharedReplies(shared_claims())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webchat = Blueprint("webchat_webhook", __name__)

        @webchat.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webchat.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                await receive_body(request, WEBCHAT_MAX_BODY)
            except PayloadTooLarge:
                return response.json({"error": "message too long"}, status=413)
            try:
                sender, text, message_id = parse_body(_json_or_none(request))
            except BadRequest as error:
                return response.json({"error": str(error)}, status=400)

            async def handle() -> Replies:
                collector = CollectingOutputChannel()
                await self.guard.handle(
                    request.app.ctx.agent,
                    on_new_message,
                    UserMessage(
                        text,
                        collector,
                        sender,
                        input_channel=self.name(),
                        message_id=message_id,
                        metadata={"message_id": message_id},
                    ),
                )
                return collector.messages

            async def once_everywhere() -> Replies:
                answered: List[Replies] = []
                started: List[bool] = []

                async def tracked() -> Replies:
                    started.append(True)
                    answered.append(await handle())
                    return answered[-1]

                try:
                    return await self.shared.run_once(sender, message_id, tracked)
                except Exception as error:  # store down: answer here, never not at all
                    if answered:
                        return answered[-1]
                    if started:
                        raise  # the bot itself failed: a retry runs it again
                    logger.warning(
                        "webchat: shared de-duplication unavailable (%s); answering here",
                        type(error).__name__,
                    )
                    return await handle()

            try:
                replies = await self.cache.run_once((sender, message_id), once_everywhere)
            except Exception:  # noqa: BLE001 - the widget shows a retry; details go to the log
                logger.exception("webchat: message %s of %s failed", message_id, sender)
                return response.json({"error": "the assistant could not answer"}, status=503)
            if any((r.get("custom") or {}).get("type") == ERASED for r in replies):
                # "delete my data": the replies kept for retries (they may hold a name) go too
                self.cache.forget(sender, keep=message_id)
                await self.shared.forget(sender, keep=message_id)
            return response.json(replies)

        return webchat


def _json_or_none(request: Request) -> Any:
    try:
        return request.json
    except Exception:  # noqa: BLE001 - malformed JSON is a bad request, not a crash
        return None
