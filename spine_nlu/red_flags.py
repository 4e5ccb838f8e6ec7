"""Red-flag detection: emergencies and crises must never depend on a statistical classifier alone.

``RedFlagMatcher`` is the pure engine: word-sequence patterns over normalised lemmas, with
typo tolerance and context rules (negation, hypothetical/risk questions, past history); the
patterns are data in ``content/red_flags.yml``. The Rasa component around it is
``spine_nlu.red_flag_detector.RedFlagDetector``.
"""
from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Sequence, Set, Tuple

from spine_content.yaml_files import read_yaml

# Set in a message's parse by spine_nlu.red_flag_detector when the classifiers alone leaned towards
# emergency/crisis without being sure enough (no red-flag pattern matched); read by the actions
# (actions/clarify.py adds the urgent-help numbers, actions/forms.py never takes it as an answer).
POSSIBLE_RED_FLAG_KEY = "possible_red_flag"
# When a message may be urgent but is not clear, the intent RedFlagDetector sets for it, by the
# level it may be: one triage question (or the crisis check) first (data/rules/triage.yml).
CHECK_INTENTS = {"crisis": "crisis_check", "emergency": "triage_check", "urgent": "triage_check"}
# Set in a message's parse when it describes an ordinary symptom (a ``routine`` flag and nothing
# that escalates): ``{"id", "response"}``; spine_nlu.safety_net.SafetyNetPolicy sends that response
# after the answer.
SAFETY_NET_KEY = "safety_net"

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATTERNS = ROOT / "content" / "red_flags.yml"
CLAUSE_BREAKS = {".", "!", "?", ";", ",", "but", "however", "though", "although", "\n", "तो"}
# Triage levels a flag can raise, strongest first: crisis and emergency get the urgent-help reply
# now, urgent "contact your surgeon or hospital today".
KIND_PRIORITY = ("crisis", "emergency", "urgent")
# Levels whose context rules (hypothetical, risk question, past history) apply: a statement about
# one's body. Crisis statements are never explained away by tense or hypotheticals.
SYMPTOM_KINDS = ("emergency", "urgent", "routine")
# Ordinary symptoms that are answered, with a line on what would make them urgent (``net``).
ROUTINE = "routine"
# An element word written "=legs" matches that exact (lowercased) word, not its lemma: "both legs"
# and "my leg" share the lemma "leg", and only the plural says both.
SURFACE = "="
# spaCy splits "can't" into "ca" + "n't" and "cant" into "ca" + "nt".
CONTRACTIONS = {
    "n't": "not",
    "nt": "not",
    "ca": "can",
    "wo": "will",
    "'m": "am",
    "'re": "are",
}  # crisis replies also give the emergency number

YEAR = re.compile(r"^(19|20)\d\d$")


# "a cramp that doesn't go away", "the pain won't stop": a symptom that persists, not a negated
# one. Its "not" would otherwise cancel a sign beside it ("... and swelling") as "no swelling"
# does.
PERSIST = "persist"
_PERSISTING = {("go", "away"), ("stop",), ("settle",), ("improve",), ("ease",), ("subside",)}


def _persistence(keys: List[str]) -> List[str]:
    """``keys`` with each "not go away" (and the like) replaced by :data:`PERSIST`, word for word:
    neither a negation nor, for "go away", a symptom that resolved."""
    out = list(keys)
    for i, key in enumerate(keys):
        if key != "not":
            continue
        for words in _PERSISTING:
            if tuple(keys[i + 1 : i + 1 + len(words)]) == words:
                out[i : i + 1 + len(words)] = [PERSIST] * (1 + len(words))
    return out


@dataclass(frozen=True)
class RedFlagHit:
    flag_id: str
    kind: str
    label: str
    start: int  # character offsets in the original message
    end: int


class RedFlagMatcher:
    """Finds red flags in a message. Build once; ``detect`` is cheap."""

    def __init__(self, config: Dict[str, Any]) -> None:
        import spacy
        from spacy.lookups import load_lookups

        self.config = config
        settings = config.get("settings") or {}
        self.gap = int(settings.get("gap", 4))
        self.negation_window = int(settings.get("negation_window", 5))
        self.fuzzy_min_length = int(settings.get("fuzzy_min_length", 4))
        self.fuzzy_cutoff = float(settings.get("fuzzy_cutoff", 0.8))

        # Tokenizer only; lemmas come straight from spacy-lookups-data's English lookup table
        # (a spaCy Table: string keys are hashed, so it is queried, never enumerated for keys).
        self.nlp = spacy.blank("en")
        self._lemmas = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self._lemma_values: Set[str] = set(self._lemmas.values())

        cues = config.get("cues") or {}
        self.cues: Dict[str, List[Tuple[str, ...]]] = {
            name: [tuple(self._key(w) for w in str(c).split()) for c in values]
            for name, values in cues.items()
        }
        # Every word as written in the config -> its key; typos are corrected towards these forms
        # ("brething" is closer to "breathing" than to its lemma "breathe").
        self._surface: Dict[str, str] = {}
        groups = {
            name: sorted({self._remember(w) for w in words})
            for name, words in (config.get("groups") or {}).items()
        }
        self.flags: Dict[str, Dict[str, Any]] = {}
        negation_words = {w for cue in self.cues.get("negation", []) for w in cue} | {"not"}
        self._negation_words = negation_words
        # patterns that spell out a negation ("can't pee") vs those that must not contain one
        self._negating_patterns: Set[str] = set()
        # ... and those that start with it ("nahi ... peshab"): kept within one clause
        self._negation_first: Set[str] = set()
        # (pattern key, flag id, elements, gap); an element is (exact words?, its words)
        self._patterns: List[Tuple[str, str, List[Tuple[bool, FrozenSet[str]]], int]] = []
        lexicon: Set[str] = {w for words in groups.values() for w in words}
        lexicon |= {w for values in self.cues.values() for cue in values for w in cue}
        for flag in config.get("flags") or []:
            self.flags[flag["id"]] = flag
            for index, raw in enumerate(flag["patterns"]):
                seq, gap = (
                    (raw["seq"], raw.get("gap", self.gap))
                    if isinstance(raw, dict)
                    else (raw, self.gap)
                )
                elements = [self._element(e, groups) for e in seq]
                lexicon |= {w for element in elements for w in element if w[:1] != SURFACE}
                key = f"{flag['id']}#{index}"
                if any(set(element) & negation_words for element in elements):
                    self._negating_patterns.add(key)
                if set(elements[0]) & negation_words:
                    self._negation_first.add(key)
                self._patterns.append((key, flag["id"], self._compiled(elements), gap))
        self.lexicon = lexicon
        for word in lexicon:
            self._surface.setdefault(word, word)
        self._fuzzy_targets = sorted(w for w in self._surface if len(w) >= self.fuzzy_min_length)
        self._fuzzy_cache: Dict[str, str] = {}

    @classmethod
    def from_file(cls, path: Path = DEFAULT_PATTERNS) -> RedFlagMatcher:
        return cls(load_config(path))

    # ----- normalisation ---------------------------------------------------------------------
    def _key(self, word: str) -> str:
        word = word.lower().replace("’", "'")
        word = CONTRACTIONS.get(word, word)
        return str(self._lemmas.get(word, word))

    def _remember(self, word: Any) -> str:
        key = self._key(str(word))
        self._surface[str(word).lower()] = key
        return key

    def _is_english(self, word: str) -> bool:
        return word in self._lemmas or word in self._lemma_values

    def _element(self, element: Any, groups: Dict[str, List[str]]) -> List[str]:
        words: Iterable[Any] = element if isinstance(element, list) else [element]
        out: Set[str] = set()
        for word in words:
            word = str(word)
            if word.startswith("@"):
                if word[1:] not in groups:
                    raise ValueError(f"red flags: unknown group {word}")
                out |= set(groups[word[1:]])
            elif word.startswith(SURFACE):
                out.add(word.lower())
            else:
                out.add(self._remember(word))
        if len({w[:1] == SURFACE for w in out}) > 1:
            raise ValueError(f"red flags: {sorted(out)} mixes exact (=) and lemma words")
        return sorted(out)

    @staticmethod
    def _compiled(elements: Sequence[List[str]]) -> List[Tuple[bool, FrozenSet[str]]]:
        return [
            (True, frozenset(w[1:] for w in words))
            if words[0][:1] == SURFACE
            else (False, frozenset(words))
            for words in elements
        ]

    def normalise(self, text: str) -> Tuple[List[str], List[Tuple[int, int]]]:
        """Per-token keys (lowercase lemma, typo-corrected) and their character spans."""
        doc = self.nlp(text.lower().replace("’", "'"))
        keys: List[str] = []
        spans: List[Tuple[int, int]] = []
        for token in doc:
            if token.is_space:
                continue
            raw = token.text
            key = raw if raw in self.lexicon else self._key(raw)
            if key not in self.lexicon and self._is_typo_candidate(raw):
                key = self._correct(raw) or key
            keys.append(key)
            spans.append((token.idx, token.idx + len(token.text)))
        return _persistence(keys), spans

    def _is_typo_candidate(self, word: str) -> bool:
        return word.isalpha() and len(word) >= self.fuzzy_min_length and not self._is_english(word)

    def _correct(self, word: str) -> str | None:
        if word not in self._fuzzy_cache:
            # A typo adds, drops or swaps a letter or two; a Hinglish word that merely looks
            # alike ("bacche", a child, against "backache") differs in length.
            close = [
                target
                for target in difflib.get_close_matches(
                    word, self._fuzzy_targets, n=3, cutoff=self.fuzzy_cutoff
                )
                if abs(len(target) - len(word)) <= 1
            ]
            self._fuzzy_cache[word] = self._surface[close[0]] if close else ""
        return self._fuzzy_cache[word] or None

    # ----- detection ---------------------------------------------------------------------------
    def detect(self, text: str) -> List[RedFlagHit]:
        if not text or not text.strip():
            return []
        keys, spans = self.normalise(text)
        if not keys:
            return []
        clauses = self._clauses(keys)
        lowered = text.lower().replace("’", "'")
        surfaces = [lowered[start:end] for start, end in spans]
        hits: Dict[str, RedFlagHit] = {}
        for pattern_key, flag_id, elements, gap in self._patterns:
            if flag_id in hits:
                continue
            flag = self.flags[flag_id]
            negating = pattern_key in self._negating_patterns
            negation_first = pattern_key in self._negation_first
            for start, end in self._matches(keys, surfaces, elements, gap):
                if self._excluded(
                    keys, clauses, start, end, flag["kind"], negating, negation_first
                ):
                    continue
                hits[flag_id] = RedFlagHit(
                    flag_id, flag["kind"], flag["label"], spans[start][0], spans[end - 1][1]
                )
                break
        return sorted(hits.values(), key=lambda h: (h.start, h.flag_id))

    @staticmethod
    def _matches(
        keys: Sequence[str],
        surfaces: Sequence[str],
        elements: Sequence[Tuple[bool, FrozenSet[str]]],
        gap: int,
    ) -> Iterator[Tuple[int, int]]:
        """(start, end) token spans where the elements occur in order, each at most ``gap`` tokens
        after the previous one; per start, the shortest such span. Linear in the message length
        for a pattern (spaCy's Matcher with optional tokens for the gaps branches per token and ran
        out of memory on long messages)."""

        def hit(index: int, element: Tuple[bool, FrozenSet[str]]) -> bool:
            exact, words = element
            return (surfaces if exact else keys)[index] in words

        for start in range(len(keys)):
            if not hit(start, elements[0]):
                continue
            position = start
            for element in elements[1:]:
                limit = min(len(keys), position + gap + 2)
                position = next((i for i in range(position + 1, limit) if hit(i, element)), -1)
                if position < 0:
                    break
            if position >= 0:
                yield start, position + 1

    def safety_net(self, hits: Sequence[RedFlagHit]) -> Dict[str, str] | None:
        """The net of the first routine flag among the hits, when nothing in them escalates."""
        if strongest_kind(hits) is not None:
            return None
        for hit in hits:
            net = self.flags[hit.flag_id].get("net")
            if net:
                return {"id": hit.flag_id, "response": str(net)}
        return None

    def final(self, hits: Sequence[RedFlagHit]) -> bool:
        """True when a hit comes from a flag marked ``final``: a clinician's rule that the triage
        classifier may not turn into a question (cauda equina signs), whatever else matched."""
        return any(self.flags[h.flag_id].get("final") for h in hits)

    def rules_out(self, text: str) -> bool:
        """True when the message itself says it is not urgent: negated ("no weakness"), past
        ("last year"), resolved, reassuring ("normal") or hypothetical/risk talk. Used to overrule a
        classifier-only emergency guess; a pattern match is never overruled."""
        keys, _ = self.normalise(text)
        return self._rules_out(keys)

    def _rules_out(self, keys: List[str]) -> bool:
        return any(
            self._has_cue(keys, name)
            for name in (
                "negation",
                "past",
                "resolved",
                "reassurance",
                "hypothetical",
                "risk_question",
            )
        ) or any(YEAR.match(k) for k in keys)

    def out_of_context(self, text: str) -> bool:
        """True when the message names nothing this guide's patients speak about (the ``context``
        cues: back and legs, the operation, bladder and bowel, chest and breathing, ...): a
        classifier-only emergency or urgent guess then becomes the triage question."""
        keys, _ = self.normalise(text)
        return not self._has_cue(keys, "context")

    def doubts(self, text: str) -> bool:
        """Whether a classifier-only emergency or urgent guess must become the triage question:
        the message rules itself out (:meth:`rules_out`) or is :meth:`out_of_context`."""
        keys, _ = self.normalise(text)
        return self._rules_out(keys) or not self._has_cue(keys, "context")

    def _clauses(self, keys: List[str]) -> List[int]:
        clause, out = 0, []
        for i, key in enumerate(keys):
            # "अगर ठीक न हुआ तो ...": "तो" (then) ends the condition; before a negation it is the
            # emphatic particle of "सुन्नपन तो नहीं" (no numbness, as such), which ends nothing
            after = keys[i + 1] if i + 1 < len(keys) else ""
            particle = key == "तो" and after in self._negation_words
            if key in CLAUSE_BREAKS and not particle:
                clause += 1
            out.append(clause)
            # spaCy keeps a full stop on short words ("bukhar 101 h. normal hai kya"): the
            # sentence still ends there
            if len(key) > 1 and key[-1] in ".!?" and key[-2].isalpha():
                clause += 1
        return out

    def _has_cue(self, keys: Sequence[str], cue_name: str) -> bool:
        for cue in self.cues.get(cue_name, []):
            n = len(cue)
            if any(tuple(keys[i : i + n]) == cue for i in range(len(keys) - n + 1)):
                return True
        return False

    def _excluded(
        self,
        keys: List[str],
        clauses: List[int],
        start: int,
        end: int,
        kind: str,
        negating: bool,
        negation_first: bool = False,
    ) -> bool:
        # "bukhar nahi hai, peshab theek": the "nahi" belongs to the fever's clause
        if negation_first and clauses[start] != clauses[end - 1]:
            return True
        ids = set(clauses[start:end])
        first = min(i for i, c in enumerate(clauses) if c in ids)
        last = max(i for i, c in enumerate(clauses) if c in ids)
        before = keys[max(first, start - self.negation_window) : start]
        # "calf is not swollen", "no fever": a negation inside the match counts too, unless the
        # pattern itself is about not being able to do something.
        scope = before if negating else before + keys[start:end]
        if self._has_cue(scope, "negation") or (not negating and "not" in keys[start:end]):
            return True
        clause_after = zip(keys[end : end + 4], clauses[end : end + 4], strict=False)
        after = [k for k, c in clause_after if c == clauses[end - 1]]
        if not negating and self._has_cue(after, "post_negation"):
            return True
        span = keys[start:end]
        if negating and self._has_cue(span, "problem") and self._has_cue(span, "negation"):
            return True  # "koi dikkat nahi": no problem, not "cannot"
        if kind == "crisis":
            return self._has_cue(keys[first : last + 1], "idiom")
        if kind not in SYMPTOM_KINDS:
            return False
        if kind == ROUTINE and not self._has_cue(keys, "speaker"):
            return True  # "what is sciatica?" asks about a condition, not one's own leg
        clause = keys[first : last + 1]
        # "can't pee" is a statement: a modal right before "not" is not a hypothetical cue.
        lead = [k for i, k in enumerate(keys[first:start]) if keys[first + i + 1] != "not"]
        if self._has_cue(lead, "hypothetical"):
            return True
        if self._has_cue(clause, "risk_question") and not self._has_cue(clause, "speaker"):
            return True
        in_past = self._has_cue(clause, "past") or any(YEAR.match(k) for k in clause)
        resolved = self._has_cue(keys, "resolved")
        return (in_past or resolved) and not self._has_cue(clause, "present")


# Flag options that are true/false, the only booleans the rules file may hold.
BOOLEAN_OPTIONS = ("final",)


def _reject_yaml_booleans(node: Any, where: str) -> None:
    # YAML 1.1 reads bare no/on/off/yes as booleans: a pattern word must never silently vanish.
    if isinstance(node, bool):
        raise ValueError(f"{where}: quote the word (YAML read it as {node})")
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in children:
        if key in BOOLEAN_OPTIONS and isinstance(child, bool):
            continue
        _reject_yaml_booleans(child, f"{where}.{key}")


def load_config(path: Path = DEFAULT_PATTERNS) -> Dict[str, Any]:
    data = read_yaml(path) or {}
    _reject_yaml_booleans(data, str(path))
    if not isinstance(data.get("flags"), list) or not data["flags"]:
        raise ValueError(f"{path}: no red flags defined")
    for flag in data["flags"]:
        missing = {"id", "kind", "label", "patterns"} - set(flag)
        if missing:
            raise ValueError(f"{path}: flag {flag.get('id')} lacks {sorted(missing)}")
        if flag["kind"] not in (*KIND_PRIORITY, ROUTINE):
            raise ValueError(f"{path}: flag {flag['id']} has unknown kind {flag['kind']}")
        if not isinstance(flag.get("final", False), bool):
            raise ValueError(f"{path}: flag {flag['id']}: `final` is true or false")
        if flag["kind"] == ROUTINE and not flag.get("net"):
            raise ValueError(f"{path}: routine flag {flag['id']} names no `net` response")
    return data


def strongest_kind(hits: Sequence[RedFlagHit]) -> str | None:
    kinds = {h.kind for h in hits}
    return next((k for k in KIND_PRIORITY if k in kinds), None)
