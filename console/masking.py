"""What an agent sees of a patient's words: numbers, e-mail addresses and names hidden (pure).

Names are hidden where the conversation knows them (the form's answer, a booking's name) and
where a patient introduces someone in free text ("I am Ravi", "my father Ramesh Kumar",
"mera naam Asha hai", "मेरा नाम आशा है"). A word after such a cue counts as a name when it is
capitalised there or rare in English (spaCy's lexeme probabilities), so "I am worried" stays.
Doctors' names are public (the page's cards) and stay.
"""
from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Set

import spacy_lookups_data

from spine_db.masking import EMAIL, PHONE, mask_id, mask_phone

__all__ = ["EMAIL", "PHONE", "mask_id", "mask_phone", "mask_text", "names_in"]

NAME = "[name]"

# Rarer than this (natural log of a word's frequency in English text) is no common word.
COMMON_WORD_LOGPROB = -15.5
_WORD = r"[^\W\d_][\w'.-]*"
# A cue after which the next words may be a name, and how sure the cue is: "sure" cues take the
# next word whatever it is ("my name is ..."), the others only a capitalised or rare word.
_SURE_CUES = (
    r"my\s+name\s+is",
    r"name\s*(?:is|:|-)",
    r"call\s+me",
    r"mera\s+naam",
    r"meri\s+naam",
    r"naam\s*(?:hai|:)",
    r"mai?n?\s+naam",
)
_LOOSE_CUES = (
    r"i\s*am",
    r"i'?m",
    r"this\s+is",
    r"myself",
    r"regards,?",
    r"thanks?,?",
    r"(?:my|meri|mere|mera)\s+(?:father|mother|dad|mom|mum|papa|mummy|son|daughter|wife|"
    r"husband|brother|sister|uncle|aunt|aunty|grandfather|grandmother|grandpa|grandma|"
    r"father-in-law|mother-in-law|friend|patient|bhai|behen|beta|beti|pati|patni|maa|"
    r"nana|nani|dada|dadi|chacha|mama|mami|sasur|saas)(?:'s\s+name\s+is|\s+name\s+is)?",
)
_CUE = re.compile(
    r"(?<![\w])(?:(?P<sure>"
    + "|".join(_SURE_CUES)
    + r")|(?P<loose>"
    + "|".join(_LOOSE_CUES)
    + r"))"
    r"\s*[:,-]?\s+(?P<words>" + _WORD + r"(?:\s+" + _WORD + r"){0,2})",
    re.IGNORECASE,
)
# Words that end a name even when rare or capitalised: what follows a name in a message.
_AFTER_NAME = {
    "and",
    "from",
    "here",
    "hai",
    "hoon",
    "hun",
    "hu",
    "age",
    "aged",
    "years",
    "yrs",
    "yr",
    "year",
    "my",
    "i",
    "is",
    "was",
    "with",
    "who",
    "ji",
    "sir",
    "madam",
    "mam",
    "please",
    "pls",
    "plz",
    "on",
    "back",
    "later",
    "now",
    "today",
    "tomorrow",
    "the",
    "a",
    "an",
    "of",
    "in",
    "at",
    "for",
    "has",
    "had",
    "have",
    "he",
    "she",
    "ka",
    "ki",
    "ke",
    "se",
    "ko",
    "aur",
    "but",
    "so",
    "also",
    "writing",
    "asking",
    "dr",
    "dr.",
}
_DEVANAGARI_NAME = re.compile(
    r"(मेरा\s+नाम|नाम)\s+(?P<words>[\u0900-\u097F]+(?:\s+[\u0900-\u097F]+)?)\s+(?=है|हैं)"
)


@lru_cache(maxsize=1)
def _common_words() -> frozenset:
    """English words at least as common as COMMON_WORD_LOGPROB (lower case)."""
    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        probs = json.load(handle)
    return frozenset(w for w, p in probs.items() if p >= COMMON_WORD_LOGPROB)


def _is_common(word: str) -> bool:
    return word.lower().strip("'.-") in _common_words()


def _titled(word: str) -> bool:
    """Capitalised as a name is ("Ravi"), not shouted ("HAVING")."""
    return word[:1].isupper() and not word.isupper()


def names_in(text: str) -> Set[str]:
    """Names a patient wrote after a cue (pure; see the module's docstring)."""
    found: Set[str] = set()
    for match in _CUE.finditer(text):
        sure = match.group("sure") is not None
        taken = []
        for word in match.group("words").split():
            bare = word.strip("'.-,")
            if not bare or bare.lower() in _AFTER_NAME:
                break
            if sure or _titled(bare) or not _is_common(bare):
                taken.append(bare)
                sure = sure and len(taken) < 3
                continue
            break
        if taken:
            found.add(" ".join(taken))
            found.update(w for w in taken if len(w) >= 3)
    for match in _DEVANAGARI_NAME.finditer(text):
        found.add(match.group("words"))
        found.update(match.group("words").split())
    return found


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with numbers, e-mail addresses, the conversation's known ``names`` and any name
    introduced in the text itself hidden."""
    masked = mask_phone(EMAIL.sub("[e-mail]", text))
    every = {n.strip() for n in names if n and len(n.strip()) >= 2} | names_in(masked)
    for name in sorted(every, key=len, reverse=True):
        masked = re.sub(r"(?<!\w)" + re.escape(name) + r"(?!\w)", NAME, masked, flags=re.IGNORECASE)
    return masked
