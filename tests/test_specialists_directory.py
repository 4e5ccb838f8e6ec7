"""Specialist directory: faithful to the page, searchable, formatted without invention."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

from actions.specialists_directory import (
    NOT_LISTED,
    card_payload,
    card_text,
    find_by_name,
    format_fees,
    load_directory,
    resolve_city,
    sort_specialists,
    under_fee,
)

SOURCE = (Path(__file__).resolve().parent.parent / "content/source/miss_guide.txt").read_text()
DIRECTORY = load_directory()
BY_ID = {s.id: s for s in DIRECTORY.specialists}


def _first_card(name: str) -> str:
    """The page's first card block for ``name`` (cards start with "<name>, Neurosurgeon")."""
    blocks = re.split(r"\n(?=Dr\.? [^\n]+, Neurosurgeon\n)", SOURCE)
    block = next(b for b in blocks if b.startswith(f"{name}, Neurosurgeon"))
    return re.split(r"\n(?:Consult a Specialist|More articles|Top Benefits)", block)[0]


def test_five_unique_doctors_all_traceable_to_the_page() -> None:
    assert len(BY_ID) == 5
    for s in DIRECTORY.specialists:
        for text in (s.name, s.qualifications, s.hospital, f"{s.experience_years} Years"):
            assert text in SOURCE, (s.id, text)
        if s.recommendation_percent is not None:
            assert f"{s.recommendation_percent}%\n\n({s.patients} Patients)" in SOURCE
        card = _first_card(s.name)
        for fee in s.fees:
            assert f"\n{fee}\n" in card, (s.id, fee)
        assert ("No Booking Fees" in card) == s.no_booking_fees, s.id


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("neurosurgeons in new delhi", "Delhi"),
        ("delhii", "Delhi"),
        ("any doctor in Calcutta?", "Kolkata"),
        ("kolkatta", "Kolkata"),
        ("someone near Rudrapur", "Rudrapur"),
        ("Dilli mein doctor", "Delhi"),
        ("spine surgeon in Chennai", None),
        ("show me doctors", None),
    ],
)
def test_resolve_city(text: str, city: str | None) -> None:
    assert resolve_city(text, DIRECTORY) == city


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Dr Bhati", ["aditendraditya-singh-bhati"]),
        ("mediratta", ["sunit-mediratta"]),
        ("dr. medirata please", ["sunit-mediratta"]),
        ("book with Nakipuria", ["mayank-nakipuria"]),
        ("Dr Smith", []),
    ],
)
def test_find_by_name(text: str, ids: List[str]) -> None:
    assert [s.id for s in find_by_name(text, DIRECTORY)] == ids


def test_delhi_has_three_specialists() -> None:
    assert len([s for s in DIRECTORY.specialists if s.city == "Delhi"]) == 3
    assert DIRECTORY.cities == ["Delhi", "Kolkata", "Rudrapur"]


def test_sorting_and_fee_filter() -> None:
    everyone = list(DIRECTORY.specialists)
    assert {s.experience_years for s in sort_specialists(everyone, "experience")[:2]} == {20}
    assert sort_specialists(everyone, "fee")[0].id == "mayank-nakipuria"
    assert sort_specialists(everyone, "fee")[-1].id == "gopal-achari"  # no fee listed: last
    ranked = [s.id for s in sort_specialists(everyone, "recommendation")]
    assert ranked[:2] == ["mayank-nakipuria", "aditendraditya-singh-bhati"]
    assert {s.id for s in under_fee(everyone, 1000)} == {"mayank-nakipuria", "debnath-dwaipayan"}
    with pytest.raises(ValueError, match="unknown order"):
        sort_specialists(everyone, "height")


def test_formatting_never_invents() -> None:
    assert format_fees(BY_ID["aditendraditya-singh-bhati"]) == "₹1,000 – ₹1,500"
    assert format_fees(BY_ID["mayank-nakipuria"]) == "₹500"
    achari = card_text(BY_ID["gopal-achari"])
    assert achari.count(NOT_LISTED) == 2
    assert "No Booking Fees" not in achari
    assert "No Booking Fees" in card_text(BY_ID["sunit-mediratta"])
    payload = card_payload(BY_ID["aditendraditya-singh-bhati"])
    assert payload["recommendation"] == "85% (100+ Patients)"
    assert payload["id"] == "aditendraditya-singh-bhati"
