"""Every patient message gets a reply, and urgent messages get theirs at once, whatever fails.

Rasa answers a message in one pass: take the conversation's lock, read the tracker, run the
policies and any custom actions, save. Each of those can hang or fail (a message stuck on a hung
action server holds the lock; the tracker or lock store can be down; an action can time out), and
Rasa then logs the error and sends nothing. The channels therefore hand every message to this
guard, which

1. parses the text with the loaded model (NLU only: no lock, no tracker, no action server);
2. when the triage level is emergency, crisis or urgent, sends the domain's urgent responses
   straight away, then lets Rasa record the turn in the background (its own copy of the same
   replies is not sent twice);
3. otherwise lets Rasa answer with that parse (the message is parsed once) within a deadline, and
   sends ``utter_trouble`` (try again; 112 / 108 if urgent) when Rasa fails, runs out of time or
   says nothing, or the conversation database is down (then Rasa stops before answering, so the
   conversation is neither restarted nor answered from a blank state).

The urgent responses are the same domain responses the rules send, read from the loaded model's
domain, so there is one wording.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Set, Tuple

from rasa.core.channels.channel import OutputChannel, UserMessage

from spine_rasa.tracker_store import ConversationStoreUnavailable

logger = logging.getLogger(__name__)

# triage level (the intent the model's triage layer sets) -> the responses that answer it
URGENT_RESPONSES: Dict[str, Tuple[str, ...]] = {
    "emergency": ("utter_emergency", "utter_emergency_followup"),
    "crisis": ("utter_crisis", "utter_crisis_followup"),
    "urgent": ("utter_urgent", "utter_urgent_followup"),
    "emergency_crisis": ("utter_emergency", "utter_crisis"),
}
TROUBLE = "utter_trouble"
# Used only when the model's domain cannot be read either: never send nothing.
LAST_RESORT = (
    "Sorry, I'm having trouble answering right now. Please try again in a few minutes. If you "
    "feel unwell or it is urgent, call 112 or 108, or go to the nearest emergency department."
)


@dataclass(frozen=True)
class GuardSettings:
    """``REPLY_DEADLINE`` (seconds, default 10): how long a patient waits for Rasa's answer before
    the "having trouble" reply. (The triage parse itself runs on the event loop, as Rasa's own
    does, and takes milliseconds: no deadline could interrupt it.)"""

    reply_deadline: float = 10.0

    @classmethod
    def from_env(cls) -> GuardSettings:
        return cls(float(os.environ.get("REPLY_DEADLINE", "") or cls.reply_deadline))


class GuardedOutput(OutputChannel):
    """Holds Rasa's replies until the turn is over: they reach the channel's own output only if
    the turn ended well (or took too long after answering), never an answer whose turn could not
    be stored, and nothing once the guard has answered instead."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.held: List[Tuple[str, Dict[str, Any]]] = []
        self.closed = False

    def name(self) -> str:  # type: ignore[override]  # the inner channel's name, per instance
        return self.inner.name()

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        if not self.closed:  # else the guard already answered this message
            self.held.append((recipient_id, message))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def release(self) -> None:
        self.closed = True
        held, self.held = self.held, []
        for recipient_id, message in held:
            try:
                await self.inner.send_response(recipient_id, message)
            except Exception:  # the channel logs its own delivery failures
                logger.exception("guard: a reply could not be sent")


def triage_level(parse_data: Dict[str, Any] | None) -> str | None:
    """``emergency``, ``crisis`` or ``urgent`` when the parse says so, else ``None``."""
    name = ((parse_data or {}).get("intent") or {}).get("name")
    return name if name in URGENT_RESPONSES else None


def domain_responses(agent: Any, names: Tuple[str, ...]) -> List[Dict[str, Any]]:
    """The first variation of each named response in the loaded model's domain."""
    try:
        responses = agent.domain.responses
        return [dict(responses[name][0]) for name in names]
    except Exception:  # noqa: BLE001 - no model or no such response: the caller falls back
        return []


class ReplyGuard:
    def __init__(self, settings: GuardSettings | None = None) -> None:
        self.settings = settings or GuardSettings.from_env()
        self._background: Set[asyncio.Future] = set()

    async def handle(
        self,
        agent: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        message: UserMessage,
    ) -> None:
        output = GuardedOutput(message.output_channel)
        parse_data = await self._parse(agent, message)
        guarded = UserMessage(
            message.text,
            output,
            message.sender_id,
            parse_data=parse_data,
            input_channel=message.input_channel,
            message_id=message.message_id,
            metadata=message.metadata,
        )
        task = asyncio.ensure_future(on_new_message(guarded))
        self._background.add(task)
        task.add_done_callback(self._finished)

        level = triage_level(parse_data)
        if level is not None:
            # Sent before Rasa takes the conversation's lock; Rasa records the turn afterwards.
            await self._urgent(agent, output, message, level)
            return
        stored = True
        try:
            await asyncio.wait_for(asyncio.shield(task), self.settings.reply_deadline)
        except asyncio.TimeoutError:
            logger.error("guard: Rasa still busy after %.1fs", self.settings.reply_deadline)
        except ConversationStoreUnavailable as error:  # an answer it made was not stored
            logger.error("guard: %s", error)
            stored = False
        except Exception:  # any failure gets the kind reply below
            logger.exception("guard: the message could not be answered")
        # An answer stands, also when only a slow save is left; not when its turn was lost.
        if output.held and stored:
            await output.release()
            return
        logger.error("guard: no reply from Rasa; the patient is told to try again")
        await self._answer(agent, output, message.sender_id, (TROUBLE,))

    async def urgent_only(self, agent: Any, message: UserMessage) -> str | None:
        """Where a message cannot be handed to Rasa at all (its channel could not store it): the
        urgent reply if it needs one, sent to its output channel; returns the level or None."""
        level = triage_level(await self._parse(agent, message))
        if level is not None:
            await self._urgent(agent, GuardedOutput(message.output_channel), message, level)
        return level

    async def _urgent(
        self, agent: Any, output: GuardedOutput, message: UserMessage, level: str
    ) -> None:
        await self._answer(agent, output, message.sender_id, URGENT_RESPONSES[level])
        # A second record of the flag, after the reply: the console's comes from the stored
        # message, which a tracker store that is down never stores. No conversation id: a
        # WhatsApp id is a phone number, and a hash of one is quickly reversed.
        logger.warning(
            "guard: %s reply sent (channel %s)", level, message.input_channel or "unknown"
        )

    async def _parse(self, agent: Any, message: UserMessage) -> Dict[str, Any] | None:
        """The model's parse (NLU graph only). ``None`` when it fails: Rasa then parses itself."""
        try:
            return await agent.processor.parse_message(message)
        except Exception:  # the message still goes to Rasa, which will try again
            logger.exception("guard: triage parse failed")
            return None

    async def _answer(
        self, agent: Any, output: GuardedOutput, recipient: str, names: Tuple[str, ...]
    ) -> None:
        output.closed = True
        replies = domain_responses(agent, names) or [{"text": LAST_RESORT}]
        for reply in replies:
            try:
                await output.inner.send_response(recipient, reply)
            except Exception:  # the channel logs its own delivery failures
                logger.exception("guard: reply %s could not be sent", names)

    def _finished(self, task: asyncio.Future) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("guard: Rasa failed on a message: %r", task.exception())
