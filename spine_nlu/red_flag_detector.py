"""``RedFlagDetector``: the Rasa 3 NLU component around ``spine_nlu.red_flags.RedFlagMatcher``.

On a red flag it overrides the intent to ``emergency`` or ``crisis`` with confidence 1.0 and records
the flags in the parse data as ``red_flags`` (id, label and character span of each match; kept as
metadata rather than entities because a match spans words that are already entities, e.g. "legs").
The pattern data is persisted with the trained model, so a model always carries its red flags.
"""
from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from typing import Any, Dict, List

import rasa.shared.utils.io
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from spine_nlu.message_utils import override_intent
from spine_nlu.red_flags import (
    CHECK_INTENTS,
    DEFAULT_PATTERNS,
    POSSIBLE_RED_FLAG_KEY,
    ROOT,
    SAFETY_NET_KEY,
    RedFlagMatcher,
    load_config,
    strongest_kind,
)
from spine_nlu.triage_classifier import TRIAGE_KEY
from spine_nlu.triage_model import BOTH, Thresholds, combine, with_both, word_count

RED_FLAGS_KEY = "red_flags"
# Triage intents the classifiers may also predict on their own (no pattern matched).
URGENT_INTENTS = ("emergency", "crisis", BOTH)
FALLBACK_INTENT = "nlu_fallback"
# Unsure readings: the classifiers' own guess under them may still be an emergency or crisis.
UNSURE_INTENTS = (FALLBACK_INTENT, "guide_passage")
# Set by the triage rules only; a classifier's own guess of it is demoted (see _demote).
RULES_ONLY_INTENT = "urgent"
# Records which part of the triage decided, for staff and the evaluation: "rules" or "model".
TRIAGE_SOURCE_KEY = "triage_source"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class RedFlagDetector(GraphComponent, IntentClassifier):
    """Overrides the intent to ``emergency``/``crisis`` (confidence 1.0) when a red flag matches.

    Place it last in the NLU pipeline so no later component can undo the override.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            "patterns": str(DEFAULT_PATTERNS),
            # The classifiers alone (no red-flag pattern) must be at least this sure of
            # emergency/crisis; below it the message gets a clarifying question that also says
            # where to get urgent help, instead of an emergency or crisis reply.
            "classifier_min_confidence": 0.6,
            # An emergency/crisis guess under the fallback threshold, from this confidence on,
            # still adds the urgent-help numbers to the clarifying question.
            "unsure_min_confidence": 0.3,
            # FallbackClassifier's threshold: a demoted classifier guess needs as much.
            "fallback_threshold": 0.4,
            # The triage classifier (spine_nlu.triage_classifier, before this component): the
            # probability of a level from which its reply is sent, and the probability of "not
            # routine" from which one triage question is asked first; `veto`: the probability of
            # routine from which a rule match (not `final`) is asked about instead; `ask_crisis`:
            # the crisis check question; `model_min_words`: shorter messages are the rules'
            # alone. Chosen on the development part of the blind corpus (python -m
            # spine_nlu.triage_tune); config.yml sets the same values.
            "act_emergency": 0.7,
            "act_crisis": 0.8,
            "act_urgent": 0.6,
            "ask": 0.5,
            "veto": 0.5,
            "ask_crisis": 0.2,
            "model_min_words": 3,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        red_flag_config: Dict[str, Any] | None = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.red_flag_config = red_flag_config
        self._matcher: RedFlagMatcher | None = (
            RedFlagMatcher(red_flag_config) if red_flag_config else None
        )
        cfg = self.component_config
        self.thresholds = Thresholds(
            act={
                "emergency": float(cfg["act_emergency"]),
                "crisis": float(cfg["act_crisis"]),
                "urgent": float(cfg["act_urgent"]),
            },
            ask=float(cfg["ask"]),
            veto=float(cfg["veto"]),
            ask_crisis=float(cfg["ask_crisis"]),
            min_words=int(cfg["model_min_words"]),
        )

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RedFlagDetector:
        return cls(config, model_storage, resource)

    @staticmethod
    def _patterns_path(config: Dict[str, Any]) -> Path:
        path = Path(config.get("patterns") or DEFAULT_PATTERNS)
        return path if path.is_absolute() else ROOT / path

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str | None:
        """The rules file's content: Rasa's training cache keys components on their config and
        training data only, so an edited content/red_flags.yml would otherwise be skipped and the
        model would carry the old rules."""
        path = cls._patterns_path(config)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None

    def train(self, training_data: TrainingData) -> Resource:
        path = self._patterns_path(self.component_config)
        self.red_flag_config = load_config(path)
        self._matcher = RedFlagMatcher(self.red_flag_config)  # fail training on bad patterns
        with self._model_storage.write_to(self._resource) as model_dir:
            rasa.shared.utils.io.dump_obj_as_json_to_file(
                model_dir / "red_flags.json", self.red_flag_config
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> RedFlagDetector:
        # No fallback to the file on disk: a model without its red flags must not serve.
        with model_storage.read_from(resource) as model_dir:
            data = rasa.shared.utils.io.read_json_file(model_dir / "red_flags.json")
        return cls(config, model_storage, resource, data)

    def _check_classifier_guess(self, message: Message, text: str) -> None:
        """The classifier alone predicted emergency/crisis. Kept (a second safety net) when it is
        at least ``classifier_min_confidence`` sure and the message does not rule itself out ("no
        weakness whatsoever", "last year"); otherwise a clarifying question — with urgent-help
        numbers when only the confidence was too low (``possible_red_flag`` in the parse)."""
        assert self._matcher is not None
        intent = message.get(INTENT) or {}
        name = intent.get(INTENT_NAME_KEY)
        if name in UNSURE_INTENTS:
            self._check_unsure_guess(message, text)
            return
        if name == RULES_ONLY_INTENT:
            self._demote(message)
            return
        if name not in URGENT_INTENTS:
            return
        if self._matcher.rules_out(text):
            override_intent(message, "nlu_fallback", 1.0, drop=URGENT_INTENTS)
            return
        confidence = float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        if confidence < float(self.component_config["classifier_min_confidence"]):
            override_intent(message, "nlu_fallback", 1.0, drop=URGENT_INTENTS)
            message.set(
                POSSIBLE_RED_FLAG_KEY,
                {"intent": name, "confidence": confidence},
                add_to_output=True,
            )

    @staticmethod
    def _ask(message: Message, level: str, confidence: float) -> None:
        """One triage (or crisis) question first, with the urgent-help numbers."""
        override_intent(
            message,
            CHECK_INTENTS[level],
            confidence,
            drop=URGENT_INTENTS + (RULES_ONLY_INTENT,),
        )
        # Forms read this: inside a form the question is not asked, the numbers are given.
        message.set(
            POSSIBLE_RED_FLAG_KEY,
            {"intent": level, "confidence": round(confidence, 4)},
            add_to_output=True,
        )

    def _demote(self, message: Message) -> None:
        """``urgent`` ("contact your surgeon today") is the triage rules' call alone: its words
        (wound, fever, headache after surgery) are also the words of the guide's own questions
        ("how big is the incision?"), which must get their answers. The classifiers' next guess
        stands, or the fallback when it is unsure."""
        best = _best_other(message, RULES_ONLY_INTENT)
        confidence = float(best.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        if best and confidence >= float(self.component_config["fallback_threshold"]):
            override_intent(message, best[INTENT_NAME_KEY], confidence, drop=(RULES_ONLY_INTENT,))
        else:
            override_intent(message, FALLBACK_INTENT, 1.0, drop=(RULES_ONLY_INTENT,))

    def _check_unsure_guess(self, message: Message, text: str) -> None:
        """Below the fallback threshold the top intent is ``nlu_fallback``; when the classifiers'
        own best guess under it is emergency or crisis, the clarification still carries the
        urgent-help numbers ("explain everything from start till end" read as crisis 0.39)."""
        best = _best_other(message, *UNSURE_INTENTS)
        if best.get(INTENT_NAME_KEY) not in URGENT_INTENTS:
            return
        confidence = float(best.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        if confidence < float(self.component_config["unsure_min_confidence"]):
            return
        if self._matcher is not None and self._matcher.rules_out(text):
            return
        message.set(
            POSSIBLE_RED_FLAG_KEY,
            {"intent": best[INTENT_NAME_KEY], "confidence": confidence},
            add_to_output=True,
        )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self._matcher is None:
            raise RuntimeError("RedFlagDetector has no red flags: retrain the model")
        for message in messages:
            text = message.get(TEXT) or ""
            hits = self._matcher.detect(text)
            kind = strongest_kind(hits)
            matcher = self._matcher
            probs = message.get(TRIAGE_KEY)
            verdict = combine(
                kind,
                matcher.final(hits),
                partial(matcher.doubts, text),
                probs,
                self.thresholds,
                word_count(text),
            )
            verdict = with_both(verdict, {h.kind for h in hits}, probs, self.thresholds)
            if verdict.decision == "ask":
                self._ask(message, verdict.level, verdict.confidence)
            elif verdict.decision == "act":
                override_intent(message, verdict.level, verdict.confidence)
            if kind is None:
                if verdict.decision == "none":
                    self._check_classifier_guess(message, text)
                else:
                    message.set(TRIAGE_SOURCE_KEY, "model", add_to_output=True)
                net = matcher.safety_net(hits)
                if net and (message.get(INTENT) or {}).get(INTENT_NAME_KEY) not in URGENT_INTENTS:
                    message.set(SAFETY_NET_KEY, net, add_to_output=True)
                continue
            message.set(TRIAGE_SOURCE_KEY, "rules", add_to_output=True)
            message.set(
                RED_FLAGS_KEY,
                [
                    {
                        "id": h.flag_id,
                        "kind": h.kind,
                        "label": h.label,
                        "start": h.start,
                        "end": h.end,
                    }
                    for h in hits
                    if h.kind != "routine"
                ],
                add_to_output=True,
            )
        return messages


def _best_other(message: Message, *skip: str) -> Dict[str, Any]:
    """The highest-ranked intent not in ``skip`` (``{}`` when there is none)."""
    ranking = message.get(INTENT_RANKING_KEY) or []
    return next((r for r in ranking if r.get(INTENT_NAME_KEY) not in skip), {})
