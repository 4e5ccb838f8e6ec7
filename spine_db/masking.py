"""How a patient's number, e-mail address or conversation id is shown, for each audience (pure).

One place for every process: the patient sees enough of their own number to recognise it
(``mask_mobile``), staff see the last two digits (``mask_phone``), logs the last four
(``mask_for_logs``). Names typed in free text need the console's word lists:
console/masking.py builds on these.
"""
from __future__ import annotations

import re

PHONE = re.compile(r"\+?\d[\d\s\-().]{7,}\d")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def mask_mobile(mobile: str) -> str:
    """To the patient: ``+91 98XXXXXX10``, enough to recognise it, not to read it out."""
    digits = re.sub(r"\D", "", mobile)[-10:]
    if len(digits) != 10:
        return "your number"
    return f"+91 {digits[:2]}XXXXXX{digits[-2:]}"


def mask_phone(text: str) -> str:
    """To staff: digits of phone-like numbers hidden but the last two ("+91 98765 43210" →
    "•••• ••10")."""

    def hide(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "•••• ••" + digits[-2:] if len(digits) >= 8 else match.group(0)

    return PHONE.sub(hide, text)


def mask_for_logs(number: str) -> str:
    """In log lines: the last four digits, to match a report to a delivery."""
    return ("…" + number[-4:]) if len(number) > 4 else "…"


def mask_id(sender_id: str) -> str:
    """A conversation's id as agents see it. A web id is a bearer token for the conversation
    (whoever has it can write as the patient), a WhatsApp id is the patient's number: neither is
    shown whole."""
    channel, _, rest = sender_id.rpartition(":")
    if sum(c.isdigit() for c in rest) >= 8 and not re.search(r"[a-zA-Z]", rest):
        return (channel + ":" if channel else "") + mask_phone(rest)
    return (channel + ":" if channel else "") + "…" + rest[-4:]
