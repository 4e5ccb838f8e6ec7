"""A statistical triage classifier: emergency / urgent / crisis / routine from the message text.

The triage rules (``spine_nlu.red_flags``) are precise but only know the phrasings someone wrote
down; patients paraphrase, misspell, mix Hindi and English and bury the sign in a long message.
This model learns from a much larger labelled corpus (``data/triage/``, written from the symptom
specification in docs/safety/corpus-spec.md) plus the assistant's own NLU examples (every guide
question is a ``routine`` example), so it has seen what ordinary questions look like too.

Features are its own, fitted on that corpus, not Rasa's: the NLU featurizers' vocabulary comes
from the guide's English questions and has no Hinglish or Devanagari. Character n-grams within
words (2-5) carry typos, inflections and both scripts; word uni- and bigrams carry phrases
("both legs", "not passing"). A class-balanced logistic regression (scikit-learn, already a Rasa
dependency) gives calibrated-enough probabilities for two thresholds chosen on the development
part of the blind corpus: act on the level, or ask one triage question first.

Pure: no Rasa imports, so the evaluation script and the tests use it directly.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence, Set, Tuple

import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from spine_content.yaml_files import read_yaml

ROUTINE = "routine"
LEVELS = ("emergency", "urgent", "crisis", ROUTINE)
# Longer messages are cut: the sign is in the first few hundred words of any real message, and
# the cost of a transform grows with the length (a pasted 100 kB text must not stall the parse).
MAX_CHARS = 2000
SPACES = re.compile(r"\s+")
# Every word counts, one letter included ("i", Hindi "h" for "hai"): scikit-learn's default skips
# one-letter tokens.
WORD = r"(?u)\b\w+\b"


def normalise(text: str) -> str:
    """Lower case, Unicode NFC (Devanagari typed on different keyboards), one space, bounded."""
    text = unicodedata.normalize("NFC", text or "")[:MAX_CHARS]
    return SPACES.sub(" ", text.lower().replace("’", "'")).strip()


def load_corpus(paths: Iterable[Path]) -> List[Tuple[str, str]]:
    """(text, level) pairs from YAML files holding a ``messages`` list (text, level, ...)."""
    pairs: List[Tuple[str, str]] = []
    for path in sorted(paths):
        data = read_yaml(path) or {}
        for item in data.get("messages") or []:
            level = str(item.get("level"))
            if level not in LEVELS:
                raise ValueError(f"{path}: unknown level {level!r} for {item.get('text')!r}")
            text = str(item.get("text") or "").strip()
            if text:
                pairs.append((text, level))
    return pairs


def corpus_files(folder: Path) -> List[Path]:
    return sorted(p for p in Path(folder).glob("*.yml") if p.is_file())


@dataclass
class TriageModel:
    """Word and character TF-IDF features and a logistic regression over the four levels."""

    words: TfidfVectorizer
    chars: TfidfVectorizer
    model: LogisticRegression

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        levels: Sequence[str],
        weights: Sequence[float] | None = None,
        C: float = 10.0,
        seed: int = 42,
    ) -> TriageModel:
        normalised = [normalise(t) for t in texts]
        words = TfidfVectorizer(
            analyzer="word",
            ngram_range=(1, 2),
            min_df=1,
            sublinear_tf=True,
            token_pattern=WORD,
        )
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
        features = scipy.sparse.hstack(
            [words.fit_transform(normalised), chars.fit_transform(normalised)]
        ).tocsr()
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=3000, random_state=seed)
        model.fit(features, list(levels), sample_weight=None if weights is None else list(weights))
        return cls(words, chars, model)

    def _features(self, texts: Sequence[str]) -> scipy.sparse.csr_matrix:
        normalised = [normalise(t) for t in texts]
        return scipy.sparse.hstack(
            [self.words.transform(normalised), self.chars.transform(normalised)]
        ).tocsr()

    def probabilities(self, texts: Sequence[str]) -> List[Dict[str, float]]:
        """Level → probability, one dict per text."""
        if not texts:
            return []
        values = self.model.predict_proba(self._features(texts))
        classes = [str(c) for c in self.model.classes_]
        return [dict(zip(classes, map(float, row), strict=True)) for row in np.asarray(values)]


@dataclass(frozen=True)
class Thresholds:
    """When the model decides. ``act``: the level's probability from which its reply is sent
    (per level) when no rule matched. ``ask``: the probability of "not routine" from which one
    triage question with the urgent-help numbers is asked first. ``veto``: the probability of
    "routine" from which a rule's match is asked about instead of acted on (the question still
    gives the numbers): rules match words, and "what signs of wound infection should I look for
    after discharge?" has the words of a leaking wound."""

    act: Dict[str, float]
    ask: float
    veto: float = 1.1
    # The crisis check question ("are you having thoughts of ending your life?") from this
    # probability of crisis: asking directly is safe, and it gives the helpline either way.
    ask_crisis: float = 1.1
    # Shorter messages are left to the rules: a bare "nahi" (no) or "yesterday" (a form's
    # answer) carries no triage content, and the model's reading of one word is noise.
    min_words: int = 1


@dataclass(frozen=True)
class Verdict:
    decision: str  # "act", "ask" or "none"
    level: str  # the most likely non-routine level
    confidence: float  # that level's probability ("act") or 1 - P(routine) ("ask")


def word_count(text: str) -> int:
    return len(normalise(text).split())


def decide(probs: Dict[str, float], thresholds: Thresholds, words: int = 10**6) -> Verdict:
    """The model's call for a message of ``words`` words: act on a level, ask first, or leave it
    routine."""
    urgent_levels = [lvl for lvl in LEVELS if lvl != ROUTINE]
    level = max(urgent_levels, key=lambda lvl: probs.get(lvl, 0.0))
    if words < thresholds.min_words:
        return Verdict("none", level, 0.0)
    # Crisis and emergency come before urgent when more than one passes its bar.
    for candidate in ("crisis", "emergency", "urgent"):
        p = probs.get(candidate, 0.0)
        if p >= thresholds.act.get(candidate, 1.1):
            return Verdict("act", candidate, p)
    if probs.get("crisis", 0.0) >= thresholds.ask_crisis:
        return Verdict("ask", "crisis", probs["crisis"])
    not_routine = 1.0 - probs.get(ROUTINE, 0.0)
    if not_routine >= thresholds.ask:
        return Verdict("ask", level, not_routine)
    return Verdict("none", level, not_routine)


BOTH = "emergency_crisis"


def with_both(
    verdict: Verdict,
    kinds: Set[str],
    probs: Dict[str, float] | None,
    thresholds: Thresholds,
) -> Verdict:
    """An emergency that may also be a crisis gets both replies (112 / 108 and the helpline):
    "I hit my own legs with a steel rod when the pain is too much" is self-harm, and an injury.
    So does a crisis with an emergency sign beside it ("took all my tablets, now can't breathe").
    The other level counts when one of its rules matched, or when the model finds it at least
    ``ask`` likely: a lower bar (the crisis check's) sent the helpline to "I can't hold my stool
    anymore", a cauda equina sign that needs the ambulance reply alone."""
    if verdict.decision != "act" or verdict.level not in ("emergency", "crisis"):
        return verdict
    probs = probs or {}
    other_level = "crisis" if verdict.level == "emergency" else "emergency"
    other = other_level in kinds or probs.get(other_level, 0.0) >= thresholds.ask
    return Verdict("act", BOTH, verdict.confidence) if other else verdict


def combine(
    rule: str | None,
    final: bool,
    ruled_out: Callable[[], bool],
    probs: Dict[str, float] | None,
    thresholds: Thresholds,
    words: int,
) -> Verdict:
    """The triage call for a message, rules and model together: ``rule`` is the strongest level
    the triage rules matched (``None``: none), ``final`` whether a ``final`` flag was among them,
    ``ruled_out`` says (asked only when it matters) whether the message rules itself out
    (negated, past, hypothetical) or names nothing this guide's patients speak about, ``probs``
    the model's levels (``None`` without the model).

    A rule's level stands unless the model is at least ``veto`` sure the message is routine
    (then the question; never for a ``final`` flag). Without a rule the model decides
    (:func:`decide`), and a message that rules itself out gets the question at most, unless it is
    a crisis statement, which tense never explains away."""
    if rule is not None:
        vetoed = probs is not None and probs.get(ROUTINE, 0.0) >= thresholds.veto and not final
        return Verdict("ask" if vetoed else "act", rule, 1.0)
    if probs is None:
        return Verdict("none", ROUTINE, 0.0)
    verdict = decide(probs, thresholds, words)
    if verdict.decision == "act" and verdict.level != "crisis" and ruled_out():
        return Verdict("ask", verdict.level, verdict.confidence)
    return verdict
