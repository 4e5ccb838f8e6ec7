"""spine_db/masking.py: each audience sees only what it needs of a number or an id."""
from __future__ import annotations

import pytest

from spine_db.masking import mask_for_logs, mask_id, mask_mobile, mask_phone


@pytest.mark.parametrize(
    ("raw", "patient", "staff", "logs"),
    [
        ("+919876543210", "+91 98XXXXXX10", "•••• ••10", "…3210"),
        ("98765 43210", "+91 98XXXXXX10", "•••• ••10", "…3210"),
        ("12", "your number", "12", "…"),
    ],
)
def test_a_number_as_each_audience_sees_it(raw: str, patient: str, staff: str, logs: str) -> None:
    assert mask_mobile(raw) == patient
    assert mask_phone(raw) == staff
    assert mask_for_logs(raw) == logs


def test_ids_are_never_shown_whole() -> None:
    assert mask_id("whatsapp:919876543210") == "whatsapp:•••• ••10"
    assert mask_id("web:3f9c0a1b2c3d4e5f") == "web:…4e5f"
    assert mask_phone("call me on 98765 43210 or a@b.co") == "call me on •••• ••10 or a@b.co"
