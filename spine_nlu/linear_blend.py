"""``LinearBlend``: a second, linear opinion averaged into DIET's and the ResponseSelector's.

Placed after ``DIETClassifier`` and ``ResponseSelector`` (and before ``FallbackClassifier``), it
trains two logistic regressions (scikit-learn, already a Rasa dependency) on the same sparse
sentence features the neural classifiers see (word and character n-grams, regex hits), each row
L2-normalised:

* over the intents, on every training example;
* over the answer keys (``faq/recovery_time`` ...), on the retrieval-intent examples.

At inference each confidence becomes ``(1 - weight) * neural + weight * linear`` (one weight for
intents, one for answers); the intent, the intent ranking and the selected answer are re-derived
from the blend. The two kinds of model err differently, so averaging them cancels many confident
mistakes of either: on a development set (3-fold cross-validation of the training phrasings) the
blend gives 89 more right answers and 16 fewer wrong ones (of 2,428) than DIET and the
ResponseSelector alone, each with its best gates (bench/levers.md). Training adds
~15 s.

Without sentence features (e.g. an empty message) a message is left as the neural models made it.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Sequence

import joblib
import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PROPERTY_NAME as RESPONSE_SELECTOR,
)
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS as ALL_RETRIEVAL_INTENTS,
)
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

logger = logging.getLogger(__name__)

MODEL_FILE = "linear_blend.joblib"


def blend(
    neural: Sequence[Dict[str, Any]],
    linear: Dict[str, float],
    weight: float,
    key: str,
    limit: int,
) -> List[Dict[str, Any]]:
    """``(1 - weight) * neural + weight * linear`` for every label either side knows, best first.

    ``neural`` is a Rasa ranking (dicts with ``key`` and ``confidence``); a label missing on one
    side counts as 0 there (Rasa cuts its rankings to the top 10).
    """
    scores = {str(r[key]): (1.0 - weight) * float(r[PREDICTED_CONFIDENCE_KEY]) for r in neural}
    for label, p in linear.items():
        scores[label] = scores.get(label, 0.0) + weight * float(p)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{key: label, PREDICTED_CONFIDENCE_KEY: score} for label, score in ranked]


def sentence_features(message: Message) -> scipy.sparse.csr_matrix | None:
    """The message's combined sparse sentence features for ``text`` (``None`` if it has none).

    Read through ``get_all_features``, the call DIET and the ResponseSelector make: when serving,
    spine_rasa's memo has already combined them for those two, so they are not combined again.
    """
    for features in message.get_all_features(TEXT):
        if features.is_sparse() and features.type == FEATURE_TYPE_SENTENCE:
            return scipy.sparse.csr_matrix(features.features)
    return None


class LinearScorer:
    """A fitted logistic regression's class probabilities for one sparse row, without the copy.

    ``predict_proba`` multiplies the row by ``coef_.T``, a transposed view that scipy first copies
    whole to make it contiguous: ~0.7 ms per call, most of this component's time per message.
    Here the weights are transposed once (features × classes) and only the rows of the message's
    non-zero features are read; the scores then go through the same softmax (multinomial models,
    i.e. more than two classes, as ``LogisticRegression`` fits them by default). Other models keep
    ``predict_proba``.
    """

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model
        self.classes = [str(c) for c in model.classes_]
        self.multinomial = model.classes_.size > 2 and (
            model.multi_class == "multinomial"
            or (model.multi_class == "auto" and model.solver != "liblinear")
        )
        self.weights = np.ascontiguousarray(model.coef_.T)
        self.intercept = np.asarray(model.intercept_, dtype=self.weights.dtype)

    def probabilities(self, row: scipy.sparse.csr_matrix) -> Dict[str, float]:
        """Class → probability for a 1-row CSR matrix (already normalised)."""
        if not self.multinomial:
            values = self.model.predict_proba(row)[0]
        else:
            values = row.data @ self.weights[row.indices] + self.intercept
            values -= values.max()
            np.exp(values, out=values)
            values /= values.sum()
        return dict(zip(self.classes, values.tolist(), strict=True))


def l2_normalised(row: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    """``sklearn.preprocessing.normalize(row)`` for one CSR row, without its input checks."""
    norm = float(np.sqrt(np.dot(row.data, row.data)))
    if norm == 0.0:
        return row
    return scipy.sparse.csr_matrix((row.data / norm, row.indices, row.indptr), shape=row.shape)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearBlend(GraphComponent, IntentClassifier):
    """Averages a logistic regression into the intent ranking and the answer ranking."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            # Share of the linear model in the blended intent and answer confidences
            # (0.5: a plain average).
            "intent_weight": 0.5,
            "response_weight": 0.5,
            # Inverse regularisation strength of both regressions.
            "C": 30.0,
            "max_iter": 2000,
            "retrieval_intents": ["faq", "article"],
            "ranking_length": 10,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        intent_model: LogisticRegression | None = None,
        response_model: LogisticRegression | None = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._use(intent_model, response_model)

    def _use(
        self, intent_model: LogisticRegression | None, response_model: LogisticRegression | None
    ) -> None:
        """The fitted regressions (persisted) and their scorers (used per message), set together."""
        self.intent_model = intent_model
        self.response_model = response_model
        self._intent_scorer = LinearScorer(intent_model) if intent_model is not None else None
        self._response_scorer = LinearScorer(response_model) if response_model is not None else None

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearBlend:
        return cls(config, model_storage, resource)

    # ----- training and persistence -------------------------------------------------------
    def _fit(self, rows: List[scipy.sparse.csr_matrix], labels: List[str]) -> LogisticRegression:
        model = LogisticRegression(
            C=self.component_config["C"], max_iter=self.component_config["max_iter"]
        )
        model.fit(normalize(scipy.sparse.vstack(rows).tocsr()), labels)
        return model

    def train(self, training_data: TrainingData) -> Resource:
        retrieval = set(self.component_config["retrieval_intents"])
        intent_rows, intents, response_rows, keys = [], [], [], []
        for example in training_data.intent_examples:
            features = sentence_features(example)
            if features is None:
                continue
            intent = example.get(INTENT)
            intent_rows.append(features)
            intents.append(intent)
            key = example.get(INTENT_RESPONSE_KEY)
            if intent in retrieval and key:
                response_rows.append(features)
                keys.append(key)
        self._use(
            self._fit(intent_rows, intents) if len(set(intents)) >= 2 else self.intent_model,
            self._fit(response_rows, keys) if len(set(keys)) >= 2 else self.response_model,
        )
        self.persist()
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            joblib.dump(
                {"intent": self.intent_model, "response": self.response_model},
                model_dir / MODEL_FILE,
            )

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearBlend:
        try:
            with model_storage.read_from(resource) as model_dir:
                models = joblib.load(model_dir / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("LinearBlend: no trained models found; passing predictions through.")
            models = {}
        return cls(config, model_storage, resource, models.get("intent"), models.get("response"))

    # ----- inference ------------------------------------------------------------------------
    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            features = sentence_features(message)
            if features is None:
                continue
            features = l2_normalised(features)
            if self._intent_scorer is not None and message.get(INTENT_RANKING_KEY):
                self._blend_intents(message, self._intent_scorer.probabilities(features))
            if self._response_scorer is not None and message.get(RESPONSE_SELECTOR):
                self._blend_responses(message, self._response_scorer.probabilities(features))
        return messages

    def _blend_intents(self, message: Message, linear: Dict[str, float]) -> None:
        ranking = blend(
            message.get(INTENT_RANKING_KEY),
            linear,
            self.component_config["intent_weight"],
            INTENT_NAME_KEY,
            self.component_config["ranking_length"],
        )
        message.set(INTENT, dict(ranking[0]), add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)

    def _blend_responses(self, message: Message, linear: Dict[str, float]) -> None:
        selectors = dict(message.get(RESPONSE_SELECTOR))
        for name, selection in selectors.items():
            if name == ALL_RETRIEVAL_INTENTS or not isinstance(selection, dict):
                continue
            scoped = {
                k: p for k, p in linear.items() if name == "default" or k.startswith(name + "/")
            }
            ranking = blend(
                selection.get("ranking") or [],
                scoped,
                self.component_config["response_weight"],
                INTENT_RESPONSE_KEY,
                self.component_config["ranking_length"],
            )
            if not ranking:
                continue
            top = ranking[0]
            previous = selection.get("response") or {}
            same = previous.get(INTENT_RESPONSE_KEY) == top[INTENT_RESPONSE_KEY]
            selectors[name] = {
                **selection,
                "response": {
                    **previous,
                    "responses": previous.get("responses", []) if same else [],
                    PREDICTED_CONFIDENCE_KEY: top[PREDICTED_CONFIDENCE_KEY],
                    INTENT_RESPONSE_KEY: top[INTENT_RESPONSE_KEY],
                    "utter_action": "utter_" + top[INTENT_RESPONSE_KEY],
                },
                "ranking": ranking,
            }
        message.set(RESPONSE_SELECTOR, selectors, add_to_output=True)
