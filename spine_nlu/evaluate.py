"""Held-out evaluation: intent and response-selector accuracy on ``tests/nlu/holdout.yml``.

``make eval`` prints the report; ``tests/quality/test_nlu_quality.py`` asserts the thresholds
with the same code. The expected label of a held-out message is its full key
(``faq/recovery_time``) for retrieval intents and the plain intent otherwise. A message
predicted as ``nlu_fallback`` counts as wrong for in-domain labels and as right for
``out_of_scope`` (the user gets the fallback).
"""
from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOLDOUT = ROOT / "tests" / "nlu" / "holdout.yml"
DEFAULT_MODEL = ROOT / "models" / "spine.tar.gz"
RETRIEVAL_INTENTS = ("faq", "article")
FALLBACK_OK = {"out_of_scope", "nlu_fallback"}


def load_examples(path: Path) -> List[Tuple[str, str]]:
    """(text, expected label) pairs from a Rasa NLU YAML file."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    pairs = []
    for message in data.intent_examples:
        label = message.get("intent_response_key") or message.get("intent")
        pairs.append((message.get("text"), label))
    return pairs


def predicted_label(parse: Dict[str, Any]) -> str:
    """The label the assistant acts on: full response key for retrieval intents."""
    intent = (parse.get("intent") or {}).get("name") or ""
    if intent in RETRIEVAL_INTENTS:
        selectors = parse.get("response_selector") or {}
        selected = selectors.get(intent) or selectors.get("default") or {}
        return (selected.get("response") or {}).get("intent_response_key") or intent
    return intent


def outcome(expected: str, predicted: str) -> str:
    """``right``, ``clarify`` (a clarifying question where an answer was expected) or ``wrong``."""
    if predicted == expected or (expected in FALLBACK_OK and predicted in FALLBACK_OK):
        return "right"
    return "clarify" if predicted == "nlu_fallback" else "wrong"


def base_intent(label: str) -> str:
    return label.split("/", 1)[0]


@dataclass
class Report:
    total: int = 0
    intent_correct: int = 0
    response_total: int = 0
    response_correct: int = 0
    label_correct: int = 0
    clarified: int = 0  # a clarifying question (nlu_fallback) where an answer was expected
    confusions: Counter = field(default_factory=Counter)
    errors: List[Tuple[str, str, str]] = field(default_factory=list)

    @property
    def intent_accuracy(self) -> float:
        return self.intent_correct / self.total if self.total else 0.0

    @property
    def response_accuracy(self) -> float:
        return self.response_correct / self.response_total if self.response_total else 0.0

    @property
    def overall_accuracy(self) -> float:
        return self.label_correct / self.total if self.total else 0.0

    @property
    def wrong_answers(self) -> int:
        """Messages that got another answer than the right one (not a clarifying question)."""
        return self.total - self.label_correct - self.clarified

    def add(self, text: str, expected: str, predicted: str) -> None:
        self.total += 1
        result = outcome(expected, predicted)
        ok = result == "right"
        if base_intent(predicted) == base_intent(expected) or ok:
            self.intent_correct += 1
        if "/" in expected:
            self.response_total += 1
            self.response_correct += predicted == expected
        self.label_correct += ok
        self.clarified += result == "clarify"
        if not ok:
            self.confusions[(expected, predicted)] += 1
            self.errors.append((text, expected, predicted))

    def format(self) -> str:
        lines = [
            f"held-out messages:            {self.total}",
            f"intent accuracy:              {self.intent_accuracy:.3f}",
            f"response-selector accuracy:   {self.response_accuracy:.3f}"
            f"  ({self.response_correct}/{self.response_total} retrieval messages)",
            f"overall (label) accuracy:     {self.overall_accuracy:.3f}",
            f"right / clarifying question / wrong answer: "
            f"{self.label_correct} / {self.clarified} / {self.wrong_answers}",
            "",
            "confusion pairs (expected -> predicted):",
        ]
        lines += [f"  {n} x {exp} -> {pred}" for (exp, pred), n in self.confusions.most_common()]
        lines += ["", "errors:"] + [f"  [{e} -> {p}] {t}" for t, e, p in self.errors]
        return "\n".join(lines)


async def evaluate(model: Path = DEFAULT_MODEL, holdout: Path = DEFAULT_HOLDOUT) -> Report:
    from spine_rasa import load_agent

    agent = load_agent(str(model))
    report = Report()
    for text, expected in load_examples(holdout):
        parse = await agent.parse_message(text)
        report.add(text, expected, predicted_label(parse))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate the trained model on held-out messages.")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--holdout", type=Path, default=DEFAULT_HOLDOUT)
    args = parser.parse_args()
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines in the report
    print(asyncio.run(evaluate(args.model, args.holdout)).format())
    print()
    print(asyncio.run(triage(args.model)))
    print()
    from spine_nlu import understanding_eval

    for report in understanding_eval.reports(("dev", "heldout"), args.model):
        print(report.format())
        print()


async def triage(model: Path = DEFAULT_MODEL) -> str:
    """The blind triage corpus, development part then held-out part (spine_nlu/triage_eval.py)."""
    from spine_nlu import triage_eval
    from spine_rasa import load_agent

    agent = load_agent(str(model))
    reports = [await triage_eval.evaluate(agent, part) for part in ("dev", "heldout")]
    return "\n\n".join(report.format() for report in reports)


if __name__ == "__main__":
    main()
