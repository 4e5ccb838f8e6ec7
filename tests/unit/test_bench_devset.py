"""bench/devset.py: the folds of the development set, with and without a candidate round."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from rasa.shared.nlu.training_data.loading import load_data

from bench.devset import changes, split
from spine_nlu.evaluate import outcome

CANDIDATE_TEXTS = {
    "a greeting only the candidate round has",
    "a recovery question only the candidate round has",
}
ROUND = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - a greeting only the candidate round has
- intent: faq/recovery_time
  examples: |
    - a recovery question only the candidate round has
"""


def texts(path: Path) -> set:
    return {m.get("text") for m in load_data(str(path)).training_examples}


def test_a_candidate_round_is_trained_in_every_fold_and_never_scored(tmp_path: Path) -> None:
    plain = split(3, tmp_path / "plain")
    candidate = tmp_path / "round.yml"
    candidate.write_text(ROUND, encoding="utf-8")
    with_round = split(3, tmp_path / "round", candidate)

    # the same phrasings are held back, so the two runs are scored on the same messages
    assert [held for _, held in with_round] == [held for _, held in plain]
    held_texts = {text for _, held in with_round for text, _ in held}
    assert not held_texts & CANDIDATE_TEXTS
    for (plain_file, _), (round_file, _) in zip(plain, with_round, strict=True):
        assert texts(round_file) - texts(plain_file) == CANDIDATE_TEXTS


def test_layer_changes_are_counted_by_outcome_before_and_after() -> None:
    rows = [
        # the question finder took a right answer to a follow-up
        {"expected": "faq/a", "classifiers": "faq/a", "question finder": "follow_up"},
        # and answered a clarifying question from the guide
        {"expected": "faq/a", "classifiers": "nlu_fallback", "question finder": "faq/a"},
        {"expected": "faq/b", "classifiers": "nlu_fallback", "question finder": "faq/a"},
        # unchanged rows are not counted, whatever their outcome
        {"expected": "faq/b", "classifiers": "faq/a", "question finder": "faq/a"},
        # an out-of-scope message that gets the clarifying question was right all along
        {
            "expected": "out_of_scope",
            "classifiers": "out_of_scope",
            "question finder": "nlu_fallback",
        },
    ]
    assert changes(rows, "classifiers", "question finder") == Counter(
        {
            ("right", "wrong", "follow_up"): 1,
            ("clarify", "right", "faq"): 1,
            ("clarify", "wrong", "faq"): 1,
            ("right", "right", "nlu_fallback"): 1,
        }
    )
    assert outcome("greet", "nlu_fallback") == "clarify"
