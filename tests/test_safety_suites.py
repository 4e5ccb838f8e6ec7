"""Clinical safety against the trained pipeline: every red flag detected, no false alarm.

tests/safety/red_flags.yml and tests/safety/non_emergency.yml were written independently of the
patterns (content/red_flags.yml); a single miss or false alarm fails the build.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Tuple

import pytest
import yaml

pytestmark = pytest.mark.model

SAFETY = Path(__file__).resolve().parent / "safety"
RED_FLAGS = yaml.safe_load((SAFETY / "red_flags.yml").read_text(encoding="utf-8"))
NON_EMERGENCY = yaml.safe_load((SAFETY / "non_emergency.yml").read_text(encoding="utf-8"))
URGENT = ("emergency", "crisis")


def _cases() -> List[Tuple[str, str]]:
    return [(kind, text) for kind in URGENT for text in RED_FLAGS[kind]]


def test_suites_are_large_enough() -> None:
    assert len(_cases()) >= 60
    assert len(NON_EMERGENCY["messages"]) >= 60


async def test_every_red_flag_is_detected(agent: Any) -> None:
    missed = []
    for kind, text in _cases():
        parse = await agent.parse_message(text)
        intent = parse["intent"]["name"]
        ok = intent == kind if kind == "crisis" else intent in URGENT
        if not ok or parse["intent"]["confidence"] < 1.0:
            missed.append((kind, intent, text))
    assert not missed, f"{len(missed)} red flags missed: {missed}"


async def test_no_false_alarms(agent: Any) -> None:
    alarms = []
    for text in NON_EMERGENCY["messages"]:
        parse = await agent.parse_message(text)
        if parse["intent"]["name"] in URGENT:
            alarms.append((parse["intent"]["name"], parse.get("red_flags"), text))
    assert not alarms, f"{len(alarms)} false alarms: {alarms}"


async def test_red_flags_are_recorded_in_the_parse_data(agent: Any) -> None:
    parse = await agent.parse_message("my dad fell and can't move his legs")
    assert parse["intent"] == {"name": "emergency", "confidence": 1.0}
    assert "fall_injury" in [f["id"] for f in parse["red_flags"]]
