"""Choose the triage classifier's thresholds on the development part of the blind corpus.

    python -m spine_nlu.triage_tune

The development part (``data/triage/blind_dev.yml``) also trains the classifier, so it is scored
out of fold: five times, ``TriageModel`` is fitted as the pipeline fits it (the rest of
``data/triage/`` plus the NLU examples) with four fifths of the development part, and scores the
fifth. Each message's score is then combined with the triage rules as ``RedFlagDetector`` does (a
rule match decides first) and, for a grid of thresholds, the script prints what each level would
get, best first by a cost: 10 for an emergency or crisis left without a reply or a question, 5 for
a routine message escalated, 2 for an urgent one left alone, 1 for a routine message questioned. The
held-out part is never read here.
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from typing import Dict, List, Tuple

from spine_nlu.red_flag_detector import RedFlagDetector
from spine_nlu.red_flags import (
    CHECK_INTENTS,
    DEFAULT_PATTERNS,
    RedFlagMatcher,
    load_config,
    strongest_kind,
)
from spine_nlu.triage_eval import PARTS, ROOT, TriageReport, load
from spine_nlu.triage_model import (
    Thresholds,
    TriageModel,
    combine,
    corpus_files,
    load_corpus,
    with_both,
    word_count,
)

MIN_WORDS = int(RedFlagDetector.get_default_config()["model_min_words"])


def training_pairs() -> Tuple[List[Tuple[str, str]], List[Dict]]:
    """(the corpus without the development part + the NLU examples, the development part)."""
    from rasa.shared.nlu.training_data.loading import load_data

    from spine_nlu.triage_classifier import nlu_pairs

    dev_path = PARTS["dev"]
    corpus = load_corpus(p for p in corpus_files(dev_path.parent) if p != dev_path)
    return corpus + nlu_pairs(load_data(str(ROOT / "data" / "nlu"))), load("dev")


def out_of_fold(
    C: float, folds: int = 5, seed: int = 42
) -> Tuple[List[Dict], List[Dict[str, float]]]:
    """Each development message's probabilities from a model that did not see it."""
    from sklearn.model_selection import StratifiedKFold

    base, dev = training_pairs()
    probs: List[Dict[str, float]] = [{} for _ in dev]
    labels = [m["level"] for m in dev]
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(dev, labels):
        pairs = base + [(dev[i]["text"], dev[i]["level"]) for i in train]
        texts, levels = [t for t, _ in pairs], [lvl for _, lvl in pairs]
        model = TriageModel.fit(texts, levels, C=C, seed=seed)
        scored = model.probabilities([dev[i]["text"] for i in test])
        for i, p in zip(test, scored, strict=True):
            probs[i] = p
    return dev, probs


@dataclass(frozen=True)
class Row:
    message: Dict
    rule: str | None  # the strongest level the rules matched
    kinds: frozenset  # every level the rules matched
    final: bool  # a `final` flag matched
    probs: Dict[str, float]  # out of fold
    ruled_out: bool  # negated, past or hypothetical
    words: int


def outcome(row: Row, th: Thresholds) -> str:
    """The intent RedFlagDetector would set: a level, a check question's, or "routine"."""
    verdict = combine(row.rule, row.final, lambda: row.ruled_out, row.probs, th, row.words)
    verdict = with_both(verdict, set(row.kinds), row.probs, th)
    if verdict.decision == "act":
        return verdict.level
    if verdict.decision == "ask":
        return CHECK_INTENTS[verdict.level]
    return "routine"


def score(rows: List[Row], th: Thresholds) -> TriageReport:
    """What each level would get, counted as `make eval` counts it (spine_nlu.triage_eval)."""
    report = TriageReport("dev, out of fold")
    for row in rows:
        report.add(row.message, {"intent": {"name": outcome(row, th)}})
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, default=10.0)
    parser.add_argument(
        "--at",
        help="score one setting only and list its misses: "
        "act_emergency,act_crisis,act_urgent,ask,veto,ask_crisis",
    )
    args = parser.parse_args()
    matcher = RedFlagMatcher(load_config(DEFAULT_PATTERNS))
    dev, probs = out_of_fold(args.C)
    rows = []
    for message, p in zip(dev, probs, strict=True):
        text = message["text"]
        hits = matcher.detect(text)
        rows.append(
            Row(
                message,
                strongest_kind(hits),
                frozenset(h.kind for h in hits),
                matcher.final(hits),
                p,
                matcher.doubts(text),
                word_count(text),
            )
        )
    base = score(rows, Thresholds({}, 1.1, 1.1))
    print("rules alone:", _line(base))
    if args.at:
        e, c, u, ask, veto, ask_c = (float(v) for v in args.at.split(","))
        th = Thresholds({"emergency": e, "crisis": c, "urgent": u}, ask, veto, ask_c, MIN_WORDS)
        report = score(rows, th)
        print(args.at, _line(report))
        # the intent each miss got: "asked" alone would hide which question was asked
        intents = {row.message["text"]: outcome(row, th) for row in rows}
        for level, lang, _, text in report.misses:
            print(f"  {level:9} {lang:8} -> {intents[text]:24} {' '.join(text.split())[:150]}")
        return
    grid = itertools.product(
        (0.4, 0.5, 0.6, 0.7, 0.8),
        (0.4, 0.5, 0.6, 0.7, 0.8),
        (0.5, 0.6, 0.7, 0.8, 0.9),
        (0.2, 0.3, 0.4, 0.5, 0.6),
        (0.5, 0.6, 0.7, 0.8, 0.9, 1.1),
        (0.15, 0.2, 0.3, 0.4, 1.1),
    )
    results = []
    for emergency, crisis, urgent, ask, veto, ask_crisis in grid:
        if ask_crisis < 1 and ask_crisis >= crisis:
            continue
        th = Thresholds(
            {"emergency": emergency, "crisis": crisis, "urgent": urgent},
            ask,
            veto,
            ask_crisis,
            MIN_WORDS,
        )
        results.append((th, score(rows, th)))
    for th, counts in sorted(results, key=lambda r: _key(r[1]))[:25]:
        print(th.act, "ask", th.ask, "veto", th.veto, "ask_crisis", th.ask_crisis, _line(counts))


def _key(report: TriageReport) -> Tuple:
    """Emergencies and crises left without a reply or a question weigh most, then routine
    messages escalated, urgent ones left alone, and last the routine messages questioned."""

    def left(level: str) -> int:
        covered, total = report.covered(level)
        return total - covered

    escalated, _ = report.rate("routine")
    asked, _ = report.asked_rate("routine")
    cost = 10 * (left("emergency") + left("crisis")) + 5 * escalated + 2 * left("urgent") + asked
    replied = report.rate("emergency")[0] + report.rate("crisis")[0]
    return (cost, -replied)


def _line(report: TriageReport) -> str:
    parts = []
    for level in ("emergency", "crisis", "urgent", "routine"):
        hit, total = report.rate(level)
        asked, _ = report.asked_rate(level)
        parts.append(f"{level} {hit}+{asked}?/{total}")
    return "  ".join(parts)


if __name__ == "__main__":
    main()
