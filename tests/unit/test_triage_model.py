"""spine_nlu/triage_model.py: the statistical triage classifier's pure parts."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from spine_nlu.triage_eval import ROOT
from spine_nlu.triage_model import (
    MAX_CHARS,
    Thresholds,
    TriageModel,
    corpus_files,
    decide,
    load_corpus,
    normalise,
)

TH = Thresholds(act={"emergency": 0.7, "crisis": 0.6, "urgent": 0.8}, ask=0.4)


@pytest.mark.parametrize(
    ("probs", "decision", "level"),
    [
        ({"emergency": 0.75, "routine": 0.25}, "act", "emergency"),
        ({"emergency": 0.35, "crisis": 0.61, "routine": 0.04}, "act", "crisis"),
        # Crisis is acted on before emergency when both pass their bars.
        ({"emergency": 0.7, "crisis": 0.6}, "act", "crisis"),
        ({"urgent": 0.79, "routine": 0.21}, "ask", "urgent"),
        ({"emergency": 0.2, "urgent": 0.2, "routine": 0.6}, "ask", "emergency"),
        ({"emergency": 0.1, "urgent": 0.1, "crisis": 0.1, "routine": 0.7}, "none", "emergency"),
    ],
)
def test_decide(probs: Dict[str, float], decision: str, level: str) -> None:
    verdict = decide(probs, TH)
    assert (verdict.decision, verdict.level) == (decision, level)


def test_a_possible_crisis_is_checked_before_a_physical_question() -> None:
    th = Thresholds(act=TH.act, ask=0.5, ask_crisis=0.4)
    assert decide({"crisis": 0.45, "routine": 0.55}, th).level == "crisis"
    assert decide({"crisis": 0.45, "routine": 0.55}, th).decision == "ask"
    assert decide({"crisis": 0.35, "routine": 0.65}, th).decision == "none"


def test_normalise_is_bounded_and_script_neutral() -> None:
    assert normalise("  My  LEGS\n are ’numb’ ") == "my legs are 'numb'"
    assert len(normalise("x" * 100_000)) == MAX_CHARS
    # The same Devanagari typed precomposed or decomposed is one string.
    assert normalise("क़") == normalise("क\u093c")


def test_load_corpus_refuses_an_unknown_level(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("messages:\n- text: hi\n  level: severe\n", encoding="utf-8")
    with pytest.raises(ValueError, match="severe"):
        load_corpus([path])


def test_the_corpus_is_valid_and_covers_every_level_and_language() -> None:
    pairs = load_corpus(corpus_files(ROOT / "data" / "triage"))
    levels = {level for _, level in pairs}
    assert levels == {"emergency", "urgent", "crisis", "routine"}
    assert len(pairs) >= 2000
    assert any("\u0900" <= ch <= "\u097f" for text, _ in pairs for ch in text)  # Devanagari


def test_a_small_model_learns_and_is_deterministic() -> None:
    texts = [
        "cannot pass urine",
        "peshab nahi ho raha",
        "want to end my life",
        "marna chahta hu",
        "scar red and warm",
        "ghav laal hai",
        "how long is recovery",
        "kitna kharcha hoga",
    ] * 3
    levels = [
        "emergency",
        "emergency",
        "crisis",
        "crisis",
        "urgent",
        "urgent",
        "routine",
        "routine",
    ] * 3
    first = TriageModel.fit(texts, levels).probabilities(["urine nahi ho raha", "recovery time"])
    again = TriageModel.fit(texts, levels).probabilities(["urine nahi ho raha", "recovery time"])
    assert first == again
    assert max(first[0].items(), key=lambda kv: kv[1])[0] == "emergency"
    assert max(first[1].items(), key=lambda kv: kv[1])[0] == "routine"
    assert TriageModel.fit(texts, levels).probabilities([]) == []
