"""``RetrievalRouter``: a Rasa 3 NLU component placed after the classifiers.

It does three things for the retrieval intents (``faq``, ``article``):

1. **Topic payloads.** Quick-reply buttons carry ``topic:<intent>/<key>`` (e.g.
   ``topic:faq/recovery_time``). Rasa's ``/intent`` payload syntax cannot address a retrieval
   sub-intent, so this component resolves such payloads deterministically: intent, response
   selection and ranking are set as if the classifiers had predicted them with confidence 1.0.
   Unknown keys become ``nlu_fallback`` (never a random answer).
2. **Low-confidence answers.** ``FallbackClassifier`` only looks at the intent confidence, which is
   high for any spine-sounding message. When the response selector's top answer is below
   ``response_threshold``, the intent becomes ``nlu_fallback`` so the assistant asks for
   clarification instead of guessing. A message with no domain term at all (no ``procedure``,
   ``condition`` or ``body_part`` entity from the spaCy EntityRuler) must clear the higher
   ``response_threshold_without_domain_terms``: "what's the temperature in Chennai" must never get
   an article answer. The selector's ranking is kept for the clarification.
3. **Retrieval family.** ``faq`` and ``article`` are one family to a user; DIET sometimes splits its
   confidence between them (faq 0.29 + article 0.16 vs another intent at 0.30), so
   ``FallbackClassifier`` falls back although the selector is sure. When the family's combined
   confidence beats every other intent and the selector's answer clears
   ``rescue_response_threshold``, the message is answered.

The set of known answer keys is learnt at training time and persisted with the model.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

import rasa.shared.utils.io
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_TYPE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from spine_nlu.message_utils import (
    DEFAULT_SELECTOR,
    RESPONSE_SELECTOR,
    override_intent,
    select_response,
)

logger = logging.getLogger(__name__)

UTTER_PREFIX = "utter_"


def selected_response(message: Message) -> Dict[str, Any] | None:
    """The response selector's top prediction for ``message`` (or ``None``)."""
    selectors = message.get(RESPONSE_SELECTOR) or {}
    intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
    selected = selectors.get(intent) or selectors.get(DEFAULT_SELECTOR)
    return selected.get("response") if selected else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class RetrievalRouter(GraphComponent, IntentClassifier):
    """Resolves ``topic:`` payloads and turns unsure answer selections into a fallback."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            "payload_prefix": "topic:",
            "retrieval_intents": ["faq", "article"],
            # Below this response-selector confidence the user is asked to clarify ...
            "response_threshold": 0.2,
            # ... and below this one when the message contains none of the domain entities.
            "response_threshold_without_domain_terms": 0.3,
            "domain_entities": ["procedure", "condition", "body_part"],
            # A fallen-back message is answered when faq+article together beat every other intent
            # and the selector is at least this sure.
            "rescue_response_threshold": 0.5,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        known_keys: List[str] | None = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.known_keys = sorted(set(known_keys or []))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RetrievalRouter:
        return cls(config, model_storage, resource)

    # ----- training and persistence -------------------------------------------------------
    def train(self, training_data: TrainingData) -> Resource:
        intents = set(self.component_config["retrieval_intents"])
        self.known_keys = sorted(
            name[len(UTTER_PREFIX) :]
            for name in training_data.responses
            if name.startswith(UTTER_PREFIX)
            and name[len(UTTER_PREFIX) :].split("/", 1)[0] in intents
        )
        self.persist()
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            rasa.shared.utils.io.dump_obj_as_json_to_file(
                model_dir / "retrieval_router.json", {"known_keys": self.known_keys}
            )

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> RetrievalRouter:
        try:
            with model_storage.read_from(resource) as model_dir:
                data = rasa.shared.utils.io.read_json_file(model_dir / "retrieval_router.json")
        except ValueError:
            logger.warning("RetrievalRouter: no persisted keys found; payloads disabled.")
            data = {}
        return cls(config, model_storage, resource, data.get("known_keys"))

    # ----- inference ------------------------------------------------------------------------
    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = (message.get(TEXT) or "").strip()
            prefix = self.component_config["payload_prefix"]
            if text.startswith(prefix):
                self._route_payload(message, text[len(prefix) :].strip())
            else:
                self._gate_on_confidence(message)
        return messages

    def _route_payload(self, message: Message, key: str) -> None:
        if key not in self.known_keys:
            logger.info("Unknown topic payload %r: falling back.", key)
            self._fallback(message, confidence=1.0)
            return
        select_response(message, key, self.component_config["retrieval_intents"])

    def _rescue_retrieval_family(self, message: Message) -> None:
        ranking = [
            r
            for r in message.get(INTENT_RANKING_KEY) or []
            if r.get(INTENT_NAME_KEY) != DEFAULT_NLU_FALLBACK_INTENT_NAME
        ]
        family = set(self.component_config["retrieval_intents"])
        combined = sum(
            float(r.get(PREDICTED_CONFIDENCE_KEY, 0))
            for r in ranking
            if r.get(INTENT_NAME_KEY) in family
        )
        others = [
            float(r.get(PREDICTED_CONFIDENCE_KEY, 0))
            for r in ranking
            if r.get(INTENT_NAME_KEY) not in family
        ]
        response = selected_response(message) or {}
        key = response.get(INTENT_RESPONSE_KEY) or ""
        confidence = float(response.get(PREDICTED_CONFIDENCE_KEY, 0.0))
        if (
            combined > max(others, default=0.0)
            and confidence >= self.component_config["rescue_response_threshold"]
            and key in self.known_keys
        ):
            override_intent(
                message, key.split("/", 1)[0], combined, drop=[DEFAULT_NLU_FALLBACK_INTENT_NAME]
            )

    def _gate_on_confidence(self, message: Message) -> None:
        intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if intent == DEFAULT_NLU_FALLBACK_INTENT_NAME:
            self._rescue_retrieval_family(message)
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if intent not in self.component_config["retrieval_intents"]:
            return
        if len(re.findall(r"[^\W\d_]", message.get(TEXT) or "")) < 2:
            # "98765 43210", "5", "??": no words, so no answer from the guide can be meant.
            self._fallback(message, confidence=1.0)
            return
        response = selected_response(message)
        confidence = float(response.get(PREDICTED_CONFIDENCE_KEY, 0.0)) if response else 0.0
        threshold = self.component_config["response_threshold"]
        domain_entities = set(self.component_config["domain_entities"])
        if not any(
            e.get(ENTITY_ATTRIBUTE_TYPE) in domain_entities for e in message.get(ENTITIES) or []
        ):
            threshold = max(
                threshold, self.component_config["response_threshold_without_domain_terms"]
            )
        if confidence < threshold:
            logger.debug(
                "Response confidence %.2f below %.2f: nlu_fallback.", confidence, threshold
            )
            self._fallback(message, confidence=threshold)

    @staticmethod
    def _fallback(message: Message, confidence: float) -> None:
        override_intent(message, DEFAULT_NLU_FALLBACK_INTENT_NAME, confidence)
