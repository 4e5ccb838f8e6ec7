"""``TriageClassifier``: the Rasa 3 NLU component around ``spine_nlu.triage_model.TriageModel``.

Trained with the assistant (``rasa train``) on the triage corpus (``data/triage/*.yml``) and the
NLU examples of the training data (the safety intents as their level, everything else as
``routine``). It only annotates: every message gets ``triage`` in its parse data (level →
probability). ``spine_nlu.red_flag_detector.RedFlagDetector``, after it, combines that with the
triage rules and decides.
"""
from __future__ import annotations

import hashlib
import inspect
import logging
from pathlib import Path
from typing import Any, Dict, List, Tuple

import joblib
import sklearn
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from spine_nlu import triage_model
from spine_nlu.red_flags import ROOT
from spine_nlu.triage_model import LEVELS, ROUTINE, TriageModel, corpus_files, load_corpus

logger = logging.getLogger(__name__)

TRIAGE_KEY = "triage"
MODEL_FILE = "triage_model.joblib"


def nlu_pairs(training_data: TrainingData) -> List[Tuple[str, str]]:
    """The NLU examples as (text, level): a safety intent is its level, any other is routine."""
    pairs = []
    for example in training_data.intent_examples:
        text = example.get(TEXT)
        if not text:
            continue
        intent = str(example.get(INTENT) or "")
        pairs.append((text, intent if intent in LEVELS else ROUTINE))
    return pairs


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class TriageClassifier(GraphComponent):
    """Annotates each message with the triage model's level probabilities (``triage``)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            # Folder of YAML files with a `messages` list (text, level, lang, sign, writer).
            "corpus": "data/triage",
            # Inverse regularisation of the logistic regression.
            "C": 10.0,
            "random_seed": 42,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: TriageModel | None = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TriageClassifier:
        return cls(config, model_storage, resource)

    @staticmethod
    def _corpus(config: Dict[str, Any]) -> Path:
        path = Path(config.get("corpus") or "data/triage")
        return path if path.is_absolute() else ROOT / path

    @staticmethod
    def required_packages() -> List[str]:
        return ["sklearn"]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str | None:
        """The corpus files, the model's own module and scikit-learn's version: Rasa's cache keys
        a component on its config, the NLU training data and this class's source only."""
        digest = hashlib.sha256()
        digest.update(inspect.getsource(triage_model).encode())
        digest.update(sklearn.__version__.encode())
        for path in corpus_files(cls._corpus(config)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def train(self, training_data: TrainingData) -> Resource:
        corpus = load_corpus(corpus_files(self._corpus(self.component_config)))
        if not corpus:
            raise ValueError(f"no triage corpus in {self._corpus(self.component_config)}")
        pairs = corpus + nlu_pairs(training_data)
        self.model = TriageModel.fit(
            [text for text, _ in pairs],
            [level for _, level in pairs],
            C=float(self.component_config["C"]),
            seed=int(self.component_config["random_seed"]),
        )
        logger.info(
            "triage model trained on %d corpus + %d NLU examples",
            len(corpus),
            len(pairs) - len(corpus),
        )
        with self._model_storage.write_to(self._resource) as model_dir:
            joblib.dump(self.model, model_dir / MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TriageClassifier:
        # A model without its triage classifier must not serve: no fallback to an untrained one.
        with model_storage.read_from(resource) as model_dir:
            model = joblib.load(model_dir / MODEL_FILE)
        return cls(config, model_storage, resource, model)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None:
            raise RuntimeError("TriageClassifier is not trained: retrain the model")
        texts = [m.get(TEXT) or "" for m in messages]
        for message, probs in zip(messages, self.model.probabilities(texts), strict=True):
            message.set(TRIAGE_KEY, {k: round(v, 4) for k, v in probs.items()}, add_to_output=True)
        return messages
