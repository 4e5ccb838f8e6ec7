"""actions/triage.py: after the triage question was answered "no", the held-back answer."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.triage import (
    HANDED_BACK,
    ActionAnswerAfterTriage,
    answer_for,
    checked_message,
    handed_back,
)
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


@pytest.mark.parametrize(
    ("intents", "expected"),
    [
        ([("delete_my_data", 0.8), ("crisis", 0.1)], "delete_my_data"),
        ([("goodbye", 0.6)], "goodbye"),
        ([("request_callback", 0.5), ("faq", 0.3)], "request_callback"),
        ([("delete_my_data", 0.3), ("faq", 0.2)], None),  # not sure enough: not acted on
        ([("faq", 0.9)], None),  # a question: answered here, not replayed
        ([("ask_diagnosis", 0.9)], None),  # a single response: answered here
        ([("affirm", 0.9)], None),  # "yes" means nothing without its question
        ([], None),
    ],
)
def test_handed_back(intents: List[tuple], expected: str | None) -> None:
    replay = handed_back(_checked(intents))
    if expected is None:
        assert replay is None
    else:
        assert replay is not None
        assert replay["intent"]["name"] == expected
        assert [r["name"] for r in replay["intent_ranking"]][0] == expected  # check intent gone
        assert replay["text"] == "tingling in my foot, how long is recovery"


async def test_a_request_is_replayed_for_its_own_rule(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    """ "delete everything i told you" drew the crisis check; after "no" it is carried out."""
    parse = _checked([("delete_my_data", 0.8)])
    events = await ActionAnswerAfterTriage().run(
        dispatcher, make_tracker(events=_events(parse)), domain
    )
    assert dispatcher.messages == []
    assert [e["event"] for e in events] == ["action", "user"]
    assert events[0]["name"] == "action_listen"
    assert events[1]["text"] == parse["text"]
    assert events[1]["parse_data"]["intent"] == {"name": "delete_my_data", "confidence": 0.8}
    assert events[1]["parse_data"]["replay_of"] == "triage_check"  # counted once by the console


async def test_a_replayed_request_after_a_possible_urgent_sign_keeps_the_net(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    parse = {
        **_checked([("book_appointment", 0.7)]),
        "possible_red_flag": {"intent": "urgent", "confidence": 0.55},
    }
    events = await ActionAnswerAfterTriage().run(
        dispatcher, make_tracker(events=_events(parse)), domain
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_safety_net_postop"]
    assert events[1]["parse_data"]["intent"]["name"] == "book_appointment"


def test_every_handed_back_intent_is_in_the_domain(domain: Dict[str, Any]) -> None:
    assert HANDED_BACK <= set(domain["intents"])
