"""Triage measured on the blind corpus (tests/safety/blind/): per level, how many messages got at
least the reply their level needs, and how many routine messages were escalated.

A message's reply level is the intent the model acts on: ``emergency`` / ``crisis`` / ``urgent``
(the triage rules or the classifiers), ``asked`` when one triage question comes first (it carries
the urgent-help numbers and escalates on "yes"), else routine. Asked is reported apart in both
directions: not a catch of an emergency, and not a false alarm on a routine message (but listed).
An emergency counts as caught by an emergency or crisis reply (both give 112 / 108 first); a
crisis only by the crisis reply (the helpline); an urgent message by any of the three. A
clarifying question that adds the urgent-help numbers (``possible_red_flag``) is counted apart:
it is not a catch, and not a false alarm.

``make eval`` prints both parts; tests/quality/test_nlu_quality.py holds the development part to its
measured floor. The held-out part only reports.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from spine_content.yaml_files import read_yaml
from spine_nlu.red_flags import CHECK_INTENTS

ROOT = Path(__file__).resolve().parent.parent
# The development part trains the triage classifier (data/triage/); the held-out part never does.
PARTS = {
    "dev": ROOT / "data" / "triage" / "blind_dev.yml",
    "heldout": ROOT / "tests" / "safety" / "blind" / "heldout.yml",
}
LEVELS = ("emergency", "crisis", "urgent")
# Both replies at once (spine_nlu.triage_model.with_both).
BOTH = "emergency_crisis"
ACCEPTED = {
    "emergency": {"emergency", "crisis", BOTH},
    "crisis": {"crisis", BOTH},
    "urgent": {"emergency", "crisis", "urgent", BOTH},
}


def load(part: str) -> List[Dict[str, Any]]:
    """The ``dev`` or ``heldout`` part: dicts with text, level, lang, sign, writer."""
    return list(read_yaml(PARTS[part])["messages"])


def reply_level(parse: Dict[str, Any]) -> str:
    name = (parse.get("intent") or {}).get("name")
    if name in CHECK_INTENTS.values():
        return "asked"
    return name if name in (*LEVELS, BOTH) else "routine"


@dataclass
class TriageReport:
    part: str
    total: Counter = field(default_factory=Counter)  # (level, lang) -> messages
    caught: Counter = field(default_factory=Counter)  # (level, lang) -> caught / escalated
    asked: Counter = field(default_factory=Counter)  # (level, lang) -> triage question first
    clarified: Counter = field(default_factory=Counter)  # (level, lang) -> question + numbers
    misses: List[Tuple[str, str, str, str]] = field(default_factory=list)  # level, lang, got, text

    def add(self, message: Dict[str, Any], parse: Dict[str, Any]) -> None:
        level, lang, got = message["level"], message["lang"], reply_level(parse)
        key = (level, lang)
        self.total[key] += 1
        hit = got in ACCEPTED[level] if level in ACCEPTED else got in (*LEVELS, BOTH)
        self.caught[key] += hit
        # The triage question gives no helpline: for a crisis only the crisis check counts.
        checked = (parse.get("intent") or {}).get("name")
        crisis_check = CHECK_INTENTS["crisis"]
        self.asked[key] += got == "asked" and (level != "crisis" or checked == crisis_check)
        self.clarified[key] += not hit and got != "asked" and bool(parse.get("possible_red_flag"))
        if hit != (level in ACCEPTED) or (level == "routine" and got == "asked"):
            self.misses.append((level, lang, got, message["text"]))

    def asked_rate(self, level: str) -> Tuple[int, int]:
        """(asked the triage question first, total) for a level over all languages."""
        keys = [k for k in self.total if k[0] == level]
        return sum(self.asked[k] for k in keys), sum(self.total[k] for k in keys)

    def covered(self, level: str) -> Tuple[int, int]:
        """(given the level's reply or the triage question with the numbers, total)."""
        hit, total = self.rate(level)
        asked, _ = self.asked_rate(level)
        return hit + asked, total

    def rate(self, level: str) -> Tuple[int, int]:
        """(caught or escalated, total) for a level over all languages."""
        keys = [k for k in self.total if k[0] == level]
        return sum(self.caught[k] for k in keys), sum(self.total[k] for k in keys)

    def format(self) -> str:
        lines = [f"triage, blind corpus ({self.part}): caught / messages per language"]
        for level in (*LEVELS, "routine"):
            what = "escalated (false alarms)" if level == "routine" else "caught"
            cells = []
            for lang in ("en", "hinglish", "hi"):
                n = self.total[(level, lang)]
                if n:
                    cells.append(f"{lang} {self.caught[(level, lang)]}/{n}")
            hit, n = self.rate(level)
            clarified = sum(v for k, v in self.clarified.items() if k[0] == level)
            asked, _ = self.asked_rate(level)
            lines.append(
                f"  {level:<9} {what}: {hit}/{n} ({hit / max(n, 1):.1%})  [{', '.join(cells)}]"
                + (f"  +{asked} triage question first ({asked / max(n, 1):.1%})" if asked else "")
                + (f"  +{clarified} clarifying question with the numbers" if clarified else "")
            )
        lines.append("  misses and false alarms (expected level, language, reply level):")
        lines += [f"    [{lvl} {lang} -> {got}] {text}" for lvl, lang, got, text in self.misses]
        return "\n".join(lines)


async def evaluate(agent: Any, part: str, every: int = 1) -> TriageReport:
    """Every message of the part, or every ``every``-th one (a fixed sample, for quick checks)."""
    report = TriageReport(part)
    for message in load(part)[::every]:
        report.add(message, await agent.parse_message(message["text"]))
    return report
