"""The independent safety suites (tests/safety/): red flags that must be caught and calm messages
that must not raise an alarm, with the rule for "caught". Read by their test and by the
benchmark (bench/quality.py), which must not need the test package."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from spine_content.yaml_files import read_yaml

SAFETY = Path(__file__).resolve().parent.parent / "tests" / "safety"
# "emergency_crisis": both replies at once (spine_nlu.triage_model.with_both).
URGENT = ("emergency", "crisis", "emergency_crisis")
ESCALATED = (*URGENT, "urgent")
# The suites' kinds (tests/safety/red_flags.yml).
KINDS = ("emergency", "crisis", "urgent")


def red_flag_cases() -> List[Tuple[str, str]]:
    """(kind, message) for every red flag: kind is ``emergency``, ``crisis`` or ``urgent``."""
    suites = read_yaml(SAFETY / "red_flags.yml")
    return [(kind, text) for kind in KINDS for text in suites[kind]]


def calm_messages() -> List[str]:
    suite = read_yaml(SAFETY / "non_emergency.yml")
    return list(suite["messages"])


def caught(kind: str, intent: str) -> bool:
    """A crisis must be answered as a crisis; a medical emergency by either urgent answer; an
    urgent message by any escalation."""
    if kind == "urgent":
        return intent in ESCALATED
    if kind == "crisis":
        return intent in ("crisis", "emergency_crisis")
    return intent in URGENT
