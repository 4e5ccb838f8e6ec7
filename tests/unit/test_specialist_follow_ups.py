"""Which of the doctors just shown a follow-up points at (actions/specialists.py: referred)."""
from __future__ import annotations

from typing import List

import pytest

from actions.specialists import detail_kind, referred
from spine_content.specialists_directory import load_directory

DIRECTORY = load_directory()
SHOWN = [
    s for s in DIRECTORY.specialists if s.city == "Delhi"
]  # Bhati 18, Mediratta 20, Dwaipayan 9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the second one", ["sunit-mediratta"]),
        ("the cheaper one", ["aditendraditya-singh-bhati", "debnath-dwaipayan"]),
        ("the one with 20 years experience, what are his qualifications", ["sunit-mediratta"]),
        ("the one with 9 yrs, whats his fee", ["debnath-dwaipayan"]),
        # a number of years no card shows points at no one in particular
        ("the one with 12 years", []),
    ],
)
def test_a_follow_up_points_at_the_doctor_it_describes(text: str, expected: List[str]) -> None:
    assert [s.id for s in referred(text, SHOWN, DIRECTORY)] == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("and dr debnath dwaipayan sits in which hospital", "hospital"),
        ("does dr bhati sit at apollo", "hospital"),
        ("on which days does dr bhati sit", "timings"),
        ("what are dr achari's opd timings", "timings"),
        ("what is his fee", "fees"),
        ("is she at apollo indraprastha?", "hospital"),
        ("is he available online, we live far away", "online"),
    ],
)
def test_the_detail_asked_for(text: str, kind: str) -> None:
    assert detail_kind(text) == kind
