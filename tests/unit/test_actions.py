"""Custom actions: pure helpers and the Rasa glue, with Tracker/Dispatcher fixtures."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.clarify import ActionClarifyTopic, candidate_topics, looks_on_topic
from spine_content.topics import topic_button, topic_titles
from tests.conftest import TrackerFactory


def _parse(
    ranking: List[tuple], intents: List[tuple], entities: List[str] = ()  # type: ignore[assignment]
) -> Dict[str, Any]:
    return {
        "text": "something",
        "intent": {"name": "nlu_fallback", "confidence": 0.5},
        "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.5}]
        + [{"name": n, "confidence": c} for n, c in intents],
        "entities": [{"entity": e, "value": "x"} for e in entities],
        "response_selector": {
            "all_retrieval_intents": ["faq", "article"],
            "default": {
                "response": {"intent_response_key": ranking[0][0] if ranking else None},
                "ranking": [{"intent_response_key": k, "confidence": c} for k, c in ranking],
            },
        },
    }


def test_topic_titles_come_from_content() -> None:
    titles = topic_titles()
    assert titles["faq/recovery_time"] == "Recovery time"
    assert topic_button("faq/recovery_time", titles) == {
        "title": "Recovery time",
        "payload": "topic:faq/recovery_time",
    }


def test_candidates_sorted_filtered_and_limited() -> None:
    parse = _parse(
        [
            ("article/recovery_overview", 0.2),
            ("faq/recovery_time", 0.25),
            ("article/unknown_key", 0.5),
            ("article/brace", 0.1),
            ("article/risks", 0.01),
        ],
        [("faq", 0.9)],
    )
    assert candidate_topics(parse, topic_titles()) == [
        "faq/recovery_time",
        "article/recovery_overview",
        "article/brace",
    ]


def test_no_candidates_without_a_selector() -> None:
    assert candidate_topics({"text": "hi"}, topic_titles()) == []


@pytest.mark.parametrize(
    ("intents", "entities", "expected"),
    [
        ([("article", 0.6), ("greet", 0.1)], [], True),
        ([("out_of_scope", 0.6), ("article", 0.3)], [], False),
        ([("out_of_scope", 0.6)], ["condition"], True),
        ([("faq", 0.1)], [], False),
        ([], [], False),
    ],
)
def test_looks_on_topic(intents: List[tuple], entities: List[str], expected: bool) -> None:
    assert looks_on_topic(_parse([], intents, entities)) is expected


async def test_clarify_offers_top_topics_as_buttons(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    parse = _parse(
        [("faq/recovery_time", 0.3), ("article/recovery_overview", 0.28)], [("faq", 0.8)]
    )
    events = await ActionClarifyTopic().run(dispatcher, make_tracker(parse), domain)
    assert events == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_clarify"
    assert [b["payload"] for b in message["buttons"]] == [
        "topic:faq/recovery_time",
        "topic:article/recovery_overview",
    ]
    assert "utter_clarify" in domain["responses"]


async def test_clarify_says_what_it_covers_when_off_topic(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    parse = _parse([("article/risks", 0.2)], [("out_of_scope", 0.7)])
    await ActionClarifyTopic().run(dispatcher, make_tracker(parse), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_out_of_scope"]
    assert "utter_out_of_scope" in domain["responses"]


async def test_clarify_survives_an_empty_latest_message(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    await ActionClarifyTopic().run(dispatcher, make_tracker({}), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_out_of_scope"]


# ----- safety -----------------------------------------------------------------------------------
@pytest.mark.parametrize("on_topic", [True, False])
async def test_clarify_adds_urgent_help_after_an_unsure_alarm(
    make_tracker: TrackerFactory,
    dispatcher: CollectingDispatcher,
    domain: Dict[str, Any],
    on_topic: bool,
) -> None:
    ranking = [("faq/recovery_time", 0.3)] if on_topic else [("article/risks", 0.2)]
    intents = [("faq", 0.8)] if on_topic else [("out_of_scope", 0.7)]
    parse = {
        **_parse(ranking, intents),
        "possible_red_flag": {"intent": "crisis", "confidence": 0.44},
    }
    await ActionClarifyTopic().run(dispatcher, make_tracker(parse), domain)
    responses = [m["response"] for m in dispatcher.messages]
    assert responses == [
        "utter_clarify" if on_topic else "utter_out_of_scope",
        "utter_clarify_urgent_help",
    ]
    text = domain["responses"]["utter_clarify_urgent_help"][0]["text"]
    for number in ("112", "108", "14416"):  # the numbers utter_emergency / utter_crisis give
        assert number in text


async def test_clarify_without_an_alarm_adds_nothing(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    await ActionClarifyTopic().run(
        dispatcher, make_tracker(_parse([("faq/recovery_time", 0.3)], [("faq", 0.8)])), domain
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_clarify"]
