"""LinearBlend: the blend arithmetic, training on sparse features, persistence, and what it
changes in a parse (intent, ranking, selected answer) and what it leaves alone."""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from spine_nlu.linear_blend import LinearBlend, LinearScorer, blend, l2_normalised

# Three one-hot "vocabulary" dimensions: 0 = healing words, 1 = cut words, 2 = greeting words.
EXAMPLES = [
    ("how long to heal", "faq", "faq/recovery_time", 0),
    ("healing time", "faq", "faq/recovery_time", 0),
    ("when will i heal", "faq", "faq/recovery_time", 0),
    ("how big is the cut", "article", "article/incision_size", 1),
    ("size of the incision", "article", "article/incision_size", 1),
    ("cut length", "article", "article/incision_size", 1),
    ("hello", "greet", None, 2),
    ("hi there", "greet", None, 2),
    ("good morning", "greet", None, 2),
]


def _with_features(message: Message, dimension: int) -> Message:
    vector = np.zeros((1, 3))
    vector[0, dimension] = 1.0
    message.add_features(
        Features(scipy.sparse.coo_matrix(vector), "sentence", "text", "CountVectorsFeaturizer")
    )
    return message


def _training_data() -> TrainingData:
    messages = []
    for text, intent, key, dimension in EXAMPLES:
        data: Dict[str, Any] = {"text": text, "intent": intent}
        if key:
            data["intent_response_key"] = key
        messages.append(_with_features(Message(data=data), dimension))
    return TrainingData(training_examples=messages)


def _trained(storage: Any, context: Any, **config: Any) -> LinearBlend:
    component = LinearBlend.create(
        {**LinearBlend.get_default_config(), **config}, storage, Resource("blend"), context
    )
    component.train(_training_data())
    return component


def _parsed(dimension: int, intents: List[tuple], answers: List[tuple]) -> Message:
    """A message as DIET and the ResponseSelector leave it."""
    top_key, top_confidence = answers[0]
    message = Message(
        data={
            "text": "x",
            "intent": {"name": intents[0][0], "confidence": intents[0][1]},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in intents],
            "response_selector": {
                "all_retrieval_intents": ["faq", "article"],
                "default": {
                    "response": {
                        "responses": [{"text": "selector's text"}],
                        "confidence": top_confidence,
                        "intent_response_key": top_key,
                        "utter_action": f"utter_{top_key}",
                    },
                    "ranking": [{"intent_response_key": k, "confidence": c} for k, c in answers],
                },
            },
        }
    )
    return _with_features(message, dimension)


def test_blend_is_a_weighted_average_over_both_label_sets() -> None:
    ranking = blend(
        [{"name": "a", "confidence": 0.8}, {"name": "b", "confidence": 0.2}],
        {"b": 0.6, "c": 0.4},
        0.5,
        "name",
        10,
    )
    assert [(r["name"], round(r["confidence"], 6)) for r in ranking] == [
        ("a", 0.4),
        ("b", 0.4),
        ("c", 0.2),
    ]


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_blend_weight_extremes_keep_one_side(weight: float) -> None:
    ranking = blend([{"name": "a", "confidence": 0.9}], {"b": 0.7}, weight, "name", 10)
    assert ranking[0]["name"] == ("a" if weight == 0.0 else "b")


def test_blend_cuts_the_ranking() -> None:
    linear = {f"label{i}": 0.1 for i in range(20)}
    assert len(blend([], linear, 0.5, "name", 10)) == 10


def test_confident_mistake_of_the_neural_model_is_outvoted(storage: Any, context: Any) -> None:
    """DIET says greet 0.55 for a healing-words message; the linear model is sure it is faq."""
    component = _trained(storage, context, C=100.0)
    message = _parsed(
        0,
        [("greet", 0.55), ("faq", 0.45)],
        [("article/incision_size", 0.5), ("faq/recovery_time", 0.5)],
    )
    processed = component.process([message])[0]
    assert processed.get("intent")["name"] == "faq"
    ranking = processed.get("intent_ranking")
    assert ranking[0]["name"] == "faq"
    assert ranking[0]["confidence"] > 0.6
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    selection = processed.get("response_selector")["default"]
    assert selection["response"]["intent_response_key"] == "faq/recovery_time"
    assert selection["response"]["utter_action"] == "utter_faq/recovery_time"
    # the selector's texts belonged to its own top answer, not to the new one
    assert selection["response"]["responses"] == []
    assert selection["ranking"][0]["intent_response_key"] == "faq/recovery_time"


def test_agreeing_models_keep_the_answer_and_its_texts(storage: Any, context: Any) -> None:
    component = _trained(storage, context)
    message = _parsed(1, [("article", 0.9), ("faq", 0.1)], [("article/incision_size", 0.9)])
    processed = component.process([message])[0]
    selection = processed.get("response_selector")["default"]["response"]
    assert processed.get("intent")["name"] == "article"
    assert selection["intent_response_key"] == "article/incision_size"
    assert selection["responses"] == [{"text": "selector's text"}]


def test_models_survive_persist_and_load(storage: Any, context: Any) -> None:
    trained = _trained(storage, context, C=100.0)
    loaded = LinearBlend.load(LinearBlend.get_default_config(), storage, Resource("blend"), context)
    first = _parsed(0, [("greet", 0.55), ("faq", 0.45)], [("article/incision_size", 0.6)])
    second = _parsed(0, [("greet", 0.55), ("faq", 0.45)], [("article/incision_size", 0.6)])
    assert trained.process([first])[0].get("intent_ranking") == loaded.process([second])[0].get(
        "intent_ranking"
    )


def test_without_a_trained_model_messages_pass_through(storage: Any, context: Any) -> None:
    loaded = LinearBlend.load({}, storage, Resource("never-trained"), context)
    message = _parsed(0, [("greet", 0.55), ("faq", 0.45)], [("article/incision_size", 0.6)])
    processed = loaded.process([message])[0]
    assert processed.get("intent") == {"name": "greet", "confidence": 0.55}


def test_message_without_features_is_left_alone(storage: Any, context: Any) -> None:
    component = _trained(storage, context)
    message = Message(
        data={
            "text": "",
            "intent": {"name": "greet", "confidence": 0.55},
            "intent_ranking": [{"name": "greet", "confidence": 0.55}],
        }
    )
    processed = component.process([message])[0]
    assert processed.get("intent") == {"name": "greet", "confidence": 0.55}


@pytest.mark.parametrize("classes", [2, 3, 12])
def test_scorer_gives_scikit_learns_probabilities(classes: int) -> None:
    """The copy-free scorer agrees with predict_proba (multinomial and binary models alike)."""
    rng = np.random.default_rng(3)
    features = normalize(
        scipy.sparse.random(240, 400, density=0.03, format="csr", random_state=rng) * 5
    )
    labels = [f"label{i % classes}" for i in range(240)]
    model = LogisticRegression(C=30, max_iter=2000).fit(features, labels)
    scorer = LinearScorer(model)
    assert scorer.multinomial == (classes > 2)
    for i in range(0, 240, 7):
        row = features[i]
        expected = dict(zip(model.classes_, model.predict_proba(row)[0], strict=True))
        got = scorer.probabilities(row)
        assert list(got) == list(expected)
        np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=1e-9)


def test_row_normalisation_matches_scikit_learn() -> None:
    row = scipy.sparse.csr_matrix(np.array([[0.0, 3.0, 0.0, 4.0, 1.0]]))
    np.testing.assert_allclose(l2_normalised(row).toarray(), normalize(row).toarray())
    empty = scipy.sparse.csr_matrix((1, 5))
    assert l2_normalised(empty).nnz == 0
