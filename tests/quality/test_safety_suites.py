"""Clinical safety against the trained pipeline: every red flag detected, no false alarm.

tests/safety/red_flags.yml and tests/safety/non_emergency.yml were written independently of the
patterns (content/red_flags.yml); a single miss or false alarm fails the build.
"""
from __future__ import annotations

from typing import Any

import pytest

from spine_nlu.safety_suites import ESCALATED, URGENT, calm_messages, caught, red_flag_cases

pytestmark = pytest.mark.model


def test_suites_are_large_enough() -> None:
    assert len(red_flag_cases()) >= 60
    assert len(calm_messages()) >= 60


async def test_every_red_flag_is_detected(agent: Any) -> None:
    missed = []
    for kind, text in red_flag_cases():
        parse = await agent.parse_message(text)
        intent = parse["intent"]["name"]
        if not caught(kind, intent) or parse["intent"]["confidence"] < 1.0:
            missed.append((kind, intent, text))
    assert not missed, f"{len(missed)} red flags missed: {missed}"


async def test_no_false_alarms(agent: Any) -> None:
    alarms = []
    for text in calm_messages():
        parse = await agent.parse_message(text)
        if parse["intent"]["name"] in ESCALATED:
            alarms.append((parse["intent"]["name"], parse.get("red_flags"), text))
    assert not alarms, f"{len(alarms)} false alarms: {alarms}"


async def test_red_flags_are_recorded_in_the_parse_data(agent: Any) -> None:
    parse = await agent.parse_message("my dad fell and can't move his legs")
    assert parse["intent"] == {"name": "emergency", "confidence": 1.0}
    assert "fall_injury" in [f["id"] for f in parse["red_flags"]]


async def test_a_long_request_for_explanations_is_not_a_crisis(agent: Any) -> None:
    """Seen on a user check: the blended classifiers read this as crisis (0.44), with no red-flag
    pattern; below the detector's classifier floor it becomes a clarifying question, flagged so
    the clarification adds the urgent-help numbers."""
    parse = await agent.parse_message("explain everything from start till end")
    assert parse["intent"]["name"] not in URGENT
    assert not parse.get("red_flags")
