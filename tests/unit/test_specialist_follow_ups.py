"""Which of the doctors just shown a follow-up points at (actions/specialists.py: referred)."""
from __future__ import annotations

from typing import List

import pytest

from actions.specialists import referred
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
