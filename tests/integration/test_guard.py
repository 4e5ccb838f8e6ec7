"""channels/guard.py with stand-ins for Rasa around it: what the patient gets when Rasa answers,
fails, hangs or says nothing, and for urgent messages (tests/e2e/test_faults.py: the real
servers)."""
from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Dict

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from channels.guard import LAST_RESORT, GuardSettings, ReplyGuard
from spine_rasa.tracker_store import ConversationStoreUnavailable

RESPONSES = {
    name: [{"text": f"<{name}>"}]
    for name in (
        "utter_emergency",
        "utter_emergency_followup",
        "utter_crisis",
        "utter_crisis_followup",
        "utter_urgent",
        "utter_urgent_followup",
        "utter_trouble",
    )
}


def agent(intent: str | None, responses: Dict[str, Any] = RESPONSES) -> Any:
    async def parse_message(message: UserMessage) -> Dict[str, Any]:
        if intent is None:
            raise RuntimeError("model not loaded")
        return {"text": message.text, "intent": {"name": intent, "confidence": 1.0}}

    return SimpleNamespace(
        processor=SimpleNamespace(parse_message=parse_message),
        domain=SimpleNamespace(responses=responses),
    )


async def answers(message: UserMessage) -> None:
    assert message.parse_data is not None  # parsed once, by the guard
    await message.output_channel.send_response(message.sender_id, {"text": "the answer"})


async def hangs(message: UserMessage) -> None:
    await asyncio.sleep(30)


async def fails(message: UserMessage) -> None:
    raise ConnectionError("lock store down")


async def says_nothing(message: UserMessage) -> None:
    return None


async def answers_then_hangs(message: UserMessage) -> None:
    await answers(message)
    await asyncio.sleep(30)  # e.g. saving the conversation is slow


async def answers_but_cannot_store(message: UserMessage) -> None:
    await answers(message)
    raise ConversationStoreUnavailable("database down at the save")


async def late_answer(message: UserMessage) -> None:
    await asyncio.sleep(0.2)
    await answers(message)


async def run(
    intent: str | None, rasa: Callable[[UserMessage], Awaitable[None]], **kw: Any
) -> list:
    out = CollectingOutputChannel()
    guard = ReplyGuard(GuardSettings(reply_deadline=0.3))
    await guard.handle(agent(intent, **kw), rasa, UserMessage("text", out, "patient"))
    await asyncio.sleep(0.4)  # anything Rasa still sends afterwards must not reach the patient
    return [m.get("text") for m in out.messages]


@pytest.mark.parametrize("rasa", [answers, hangs, fails, says_nothing, late_answer])
@pytest.mark.parametrize("level", ["emergency", "crisis", "urgent"])
async def test_urgent_messages_get_the_urgent_replies_once_whatever_rasa_does(
    rasa: Any, level: str
) -> None:
    assert await run(level, rasa) == [f"<utter_{level}>", f"<utter_{level}_followup>"]


async def test_an_urgent_reply_is_logged_for_staff_without_the_conversation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="channels.guard"):
        await run("emergency", hangs)
    [record] = [r.getMessage() for r in caplog.records if "reply sent" in r.getMessage()]
    assert record == "guard: emergency reply sent (channel unknown)"


@pytest.mark.parametrize("rasa", [answers, answers_then_hangs])
async def test_rasa_answers_routine_messages(rasa: Any) -> None:
    assert await run("faq", rasa) == ["the answer"]  # no "try again" after an answer


@pytest.mark.parametrize("rasa", [hangs, fails, says_nothing, answers_but_cannot_store])
async def test_failures_get_the_kind_reply_never_silence(rasa: Any) -> None:
    assert await run("faq", rasa) == ["<utter_trouble>"]


async def test_a_failed_parse_still_lets_rasa_answer() -> None:
    async def parses_itself(message: UserMessage) -> None:
        assert message.parse_data is None
        await message.output_channel.send_response(message.sender_id, {"text": "the answer"})

    assert await run(None, parses_itself) == ["the answer"]


async def test_without_a_domain_the_last_resort_text_is_sent() -> None:
    assert await run("faq", fails, responses={}) == [LAST_RESORT]
