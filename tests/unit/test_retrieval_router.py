"""RetrievalRouter: topic payloads, low-confidence gating, and persistence through train/load."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from spine_nlu.retrieval_router import RetrievalRouter

KEYS = ["faq/recovery_time", "article/incision_size"]


def _trained(
    storage: LocalModelStorage, context: ExecutionContext, config: Dict[str, Any] | None = None
) -> RetrievalRouter:
    router = RetrievalRouter.create(
        {**RetrievalRouter.get_default_config(), **(config or {})},
        storage,
        Resource("router"),
        context,
    )
    responses = {f"utter_{k}": [{"text": "x"}] for k in KEYS}
    responses["utter_greet"] = [{"text": "hi"}]
    router.train(TrainingData(responses=responses))
    return router


def _message(text: str, intent: str, confidence: float, key: str | None = None) -> Message:
    data: Dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }
    if key:
        data["response_selector"] = {
            "all_retrieval_intents": ["faq", "article"],
            "default": {
                "response": {
                    "confidence": confidence,
                    "intent_response_key": key,
                    "utter_action": f"utter_{key}",
                    "responses": [],
                },
                "ranking": [{"confidence": confidence, "intent_response_key": key}],
            },
        }
    return Message(data=data)


def _process(router: RetrievalRouter, message: Message) -> Message:
    return router.process([message])[0]


def test_training_learns_only_retrieval_keys(storage: LocalModelStorage, context: Any) -> None:
    assert _trained(storage, context).known_keys == sorted(KEYS)


def test_known_keys_survive_persist_and_load(storage: LocalModelStorage, context: Any) -> None:
    _trained(storage, context)
    loaded = RetrievalRouter.load(
        RetrievalRouter.get_default_config(), storage, Resource("router"), context
    )
    assert loaded.known_keys == sorted(KEYS)
    routed = _process(loaded, _message("topic:faq/recovery_time", "nlu_fallback", 0.3))
    assert routed.get("intent")["name"] == "faq"


def test_load_without_persisted_data_disables_payloads(
    storage: LocalModelStorage, context: Any
) -> None:
    loaded = RetrievalRouter.load({}, storage, Resource("missing"), context)
    routed = _process(loaded, _message("topic:faq/recovery_time", "greet", 0.9))
    assert routed.get("intent")["name"] == "nlu_fallback"


@pytest.mark.parametrize("key", KEYS)
def test_topic_payload_selects_that_answer(storage: Any, context: Any, key: str) -> None:
    message = _process(
        _trained(storage, context),
        _message(f"topic:{key}", "nlu_fallback", 0.3, "faq/recovery_time"),
    )
    assert message.get("intent") == {"name": key.split("/")[0], "confidence": 1.0}
    selected = message.get("response_selector")["default"]["response"]
    assert selected["intent_response_key"] == key
    assert selected["utter_action"] == f"utter_{key}"
    assert message.get("response_selector")["default"]["ranking"][0]["intent_response_key"] == key


@pytest.mark.parametrize("text", ["topic:faq/made_up", "topic:", "topic:greet"])
def test_unknown_topic_payload_falls_back(storage: Any, context: Any, text: str) -> None:
    message = _process(
        _trained(storage, context), _message(text, "article", 0.99, "article/incision_size")
    )
    assert message.get("intent")["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    ("confidence", "expected"), [(0.29, "nlu_fallback"), (0.31, "faq"), (0.95, "faq")]
)
def test_low_response_confidence_becomes_fallback(
    storage: Any, context: Any, confidence: float, expected: str
) -> None:
    router = _trained(storage, context, {"response_threshold": 0.3})
    message = _message("how long to heal", "faq", 0.99, "faq/recovery_time")
    message.get("response_selector")["default"]["response"]["confidence"] = confidence
    processed = _process(router, message)
    assert processed.get("intent")["name"] == expected
    ranking: List[Dict[str, Any]] = processed.get("intent_ranking")
    assert [r["name"] for r in ranking].count("nlu_fallback") == (expected == "nlu_fallback")
    # the selector's ranking is kept so a clarification can offer the candidates
    assert processed.get("response_selector")["default"]["ranking"]


@pytest.mark.parametrize("text", ["98765 43210", "5", "?? !!", "12/05"])
def test_messages_without_words_never_get_an_answer(storage: Any, context: Any, text: str) -> None:
    processed = _process(
        _trained(storage, context), _message(text, "article", 0.99, "article/risks")
    )
    assert processed.get("intent")["name"] == "nlu_fallback"


def test_non_retrieval_intents_are_left_alone(storage: Any, context: Any) -> None:
    processed = _process(_trained(storage, context), _message("hello", "greet", 0.97))
    assert processed.get("intent") == {"name": "greet", "confidence": 0.97}


@pytest.mark.parametrize(
    ("entities", "confidence", "expected"),
    [
        ([{"entity": "procedure", "value": "discectomy"}], 0.25, "faq"),
        ([], 0.25, "nlu_fallback"),
        ([{"entity": "city", "value": "Chennai"}], 0.25, "nlu_fallback"),
        ([], 0.35, "faq"),
        ([{"entity": "condition", "value": "stenosis"}], 0.15, "nlu_fallback"),
    ],
)
def test_messages_without_domain_terms_need_more_confidence(
    storage: Any, context: Any, entities: List[Dict[str, Any]], confidence: float, expected: str
) -> None:
    router = _trained(
        storage,
        context,
        {"response_threshold": 0.2, "response_threshold_without_domain_terms": 0.3},
    )
    message = _message("some question", "faq", 0.99, "faq/recovery_time")
    message.set("entities", entities)
    message.get("response_selector")["default"]["response"]["confidence"] = confidence
    assert _process(router, message).get("intent")["name"] == expected


def _fallen_back(ranking: List[tuple], key: str, confidence: float) -> Message:
    message = _message("am i a candidate", "nlu_fallback", 0.6, key)
    message.set(
        "intent_ranking",
        [{"name": "nlu_fallback", "confidence": 0.6}]
        + [{"name": n, "confidence": c} for n, c in ranking],
    )
    message.get("response_selector")["default"]["response"]["confidence"] = confidence
    message.set("entities", [{"entity": "procedure", "value": "miss"}])
    return message


@pytest.mark.parametrize(
    ("ranking", "confidence", "expected"),
    [
        ([("ask_treatment_decision", 0.3), ("faq", 0.29), ("article", 0.16)], 0.89, "faq"),
        ([("ask_treatment_decision", 0.3), ("faq", 0.29), ("article", 0.16)], 0.45, "nlu_fallback"),
        ([("health_other", 0.5), ("faq", 0.2), ("article", 0.2)], 0.9, "nlu_fallback"),
        ([("out_of_scope", 0.7), ("article", 0.1)], 0.9, "nlu_fallback"),
    ],
)
def test_fallen_back_retrieval_family_is_rescued_only_when_it_wins(
    storage: Any, context: Any, ranking: List[tuple], confidence: float, expected: str
) -> None:
    message = _process(
        _trained(storage, context), _fallen_back(ranking, "faq/recovery_time", confidence)
    )
    assert message.get("intent")["name"] == expected
    if expected != "nlu_fallback":
        assert message.get("intent")["confidence"] == pytest.approx(0.45)
