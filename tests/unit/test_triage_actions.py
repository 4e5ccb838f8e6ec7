"""actions/triage.py: after the triage question was answered "no", the held-back answer."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.triage import ActionAnswerAfterTriage, answer_for, checked_message
from tests.conftest import TrackerFactory


def _checked(intents: List[tuple], response: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """A parse as RedFlagDetector leaves it: its check intent first, the classifiers' after."""
    return {
        "text": "tingling in my foot, how long is recovery",
        "intent": {"name": "triage_check", "confidence": 0.6},
        "intent_ranking": [{"name": "triage_check", "confidence": 0.6}]
        + [{"name": n, "confidence": c} for n, c in intents],
        "response_selector": {
            "default": {
                "response": response or {},
                "ranking": [{"intent_response_key": "faq/recovery_time", "confidence": 0.4}],
            }
        },
    }


def _events(parse: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [
        {"event": "user", "text": parse["text"], "parse_data": parse},
        {"event": "bot", "text": "Before I answer, one quick check..."},
        {"event": "user", "text": "no", "parse_data": {"intent": {"name": "deny"}}},
    ]


def test_checked_message_is_the_one_that_raised_the_question() -> None:
    parse = _checked([("faq", 0.7)])
    assert checked_message(_events(parse)) == parse
    assert checked_message([{"event": "user", "parse_data": {"intent": {"name": "faq"}}}]) is None


@pytest.mark.parametrize(
    ("intents", "response", "expected"),
    [
        (
            [("faq", 0.7)],
            {"utter_action": "utter_faq/recovery_time", "confidence": 0.6},
            "utter_faq/recovery_time",
        ),
        ([("faq", 0.7)], {"utter_action": "utter_faq/recovery_time", "confidence": 0.1}, None),
        ([("emergency", 0.5), ("ask_diagnosis", 0.3)], None, "utter_no_diagnosis"),
        ([("greet", 0.9)], None, None),
        ([], None, None),
    ],
)
def test_answer_for(
    intents: List[tuple], response: Dict[str, Any] | None, expected: str | None
) -> None:
    assert answer_for(_checked(intents, response)) == expected


async def test_answers_what_was_asked(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    parse = _checked([("faq", 0.7)], {"utter_action": "utter_faq/recovery_time", "confidence": 0.6})
    await ActionAnswerAfterTriage().run(dispatcher, make_tracker(events=_events(parse)), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq/recovery_time"]


async def test_a_possible_urgent_sign_gets_the_post_operative_net_after_the_answer(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    """The question asked about emergency signs: after "no", what makes it urgent is said."""
    parse = {
        **_checked([("faq", 0.7)], {"utter_action": "utter_faq/recovery_time", "confidence": 0.6}),
        "possible_red_flag": {"intent": "urgent", "confidence": 0.55},
    }
    await ActionAnswerAfterTriage().run(dispatcher, make_tracker(events=_events(parse)), domain)
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_faq/recovery_time",
        "utter_safety_net_postop",
    ]


async def test_offers_topics_when_the_answer_was_unsure(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    parse = _checked([("nlu_fallback", 0.7)])
    await ActionAnswerAfterTriage().run(dispatcher, make_tracker(events=_events(parse)), domain)
    assert dispatcher.messages[0]["response"] == "utter_triage_topics"
    assert dispatcher.messages[0]["buttons"][0]["payload"] == "topic:faq/recovery_time"


async def test_asks_what_next_without_any_clue(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    await ActionAnswerAfterTriage().run(dispatcher, make_tracker(events=[]), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_triage_what_next"]
    assert "utter_triage_what_next" in domain["responses"]
