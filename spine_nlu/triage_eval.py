"""Triage measured on the blind corpus (tests/safety/blind/): per level, how many messages got at
least the reply their level needs, and how many routine messages were escalated.

A message's reply level is the intent the model acts on: ``emergency`` / ``crisis`` / ``urgent``
(the triage rules or the classifiers), else routine. An emergency counts as caught by an
emergency or crisis reply (both give 112 / 108 first); a crisis only by the crisis reply (the
helpline); an urgent message by any of the three. A clarifying question that adds the urgent-help
numbers (``possible_red_flag``) is counted apart: it is not a catch, and not a false alarm.

``make eval`` prints both parts; tests/test_nlu_quality.py holds the development part to its
measured floor. The held-out part only reports.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
BLIND = ROOT / "tests" / "safety" / "blind"
LEVELS = ("emergency", "crisis", "urgent")
ACCEPTED = {
    "emergency": {"emergency", "crisis"},
    "crisis": {"crisis"},
    "urgent": {"emergency", "crisis", "urgent"},
}


def load(part: str) -> List[Dict[str, Any]]:
    """The ``dev`` or ``heldout`` part: dicts with text, level, lang, sign, writer."""
    return list(yaml.safe_load((BLIND / f"{part}.yml").read_text(encoding="utf-8"))["messages"])


def reply_level(parse: Dict[str, Any]) -> str:
    name = (parse.get("intent") or {}).get("name")
    return name if name in LEVELS else "routine"


@dataclass
class TriageReport:
    part: str
    total: Counter = field(default_factory=Counter)  # (level, lang) -> messages
    caught: Counter = field(default_factory=Counter)  # (level, lang) -> caught / escalated
    clarified: Counter = field(default_factory=Counter)  # (level, lang) -> question + numbers
    misses: List[Tuple[str, str, str, str]] = field(default_factory=list)  # level, lang, got, text

    def add(self, message: Dict[str, Any], parse: Dict[str, Any]) -> None:
        level, lang, got = message["level"], message["lang"], reply_level(parse)
        key = (level, lang)
        self.total[key] += 1
        hit = got in ACCEPTED[level] if level in ACCEPTED else got != "routine"
        self.caught[key] += hit
        self.clarified[key] += not hit and bool(parse.get("possible_red_flag"))
        if hit != (level in ACCEPTED):
            self.misses.append((level, lang, got, message["text"]))

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
            lines.append(
                f"  {level:<9} {what}: {hit}/{n} ({hit / max(n, 1):.1%})  [{', '.join(cells)}]"
                + (f"  +{clarified} clarifying question with the numbers" if clarified else "")
            )
        lines.append("  misses and false alarms (expected level, language, reply level):")
        lines += [f"    [{lvl} {lang} -> {got}] {text}" for lvl, lang, got, text in self.misses]
        return "\n".join(lines)


async def evaluate(agent: Any, part: str) -> TriageReport:
    report = TriageReport(part)
    for message in load(part):
        report.add(message, await agent.parse_message(message["text"]))
    return report
