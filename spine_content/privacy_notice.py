"""The privacy notice and page (content/privacy.yml) with the retention windows as configured.
Pure helpers: the chat's notice (actions/privacy.py) and the website's /privacy page use them."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from functools import cache
from typing import Any, Dict, Iterable, List, Tuple

import yaml

from spine_content.topics import CONTENT_DIR
from spine_db.retention import Windows


@cache
def privacy_text() -> Dict[str, Any]:
    return dict(yaml.safe_load((CONTENT_DIR / "privacy.yml").read_text(encoding="utf-8")))


def privacy_url() -> str:
    """Where the website serves the privacy page (``PRIVACY_URL``)."""
    return os.environ.get("PRIVACY_URL", "").strip() or "http://localhost:8000/privacy"


def fill(text: str) -> str:
    """``text`` with the configured windows and the page's address, on one line."""
    windows = Windows.from_env()
    return " ".join(
        text.format(
            conversation_days=windows.conversation_days,
            request_days=windows.request_days,
            privacy_url=privacy_url(),
        ).split()
    )


def notice() -> str:
    return fill(privacy_text()["notice"])


def version() -> str:
    return str(privacy_text()["version"])


def page() -> List[Tuple[str, str]]:
    """(heading, text) of the privacy page."""
    return [(str(s["heading"]), fill(str(s["text"]))) for s in privacy_text()["page"]]


NOTICE = "utter_privacy_notice"


def notice_was_sent(events: Iterable[Dict[str, Any]]) -> bool:
    """Whether this conversation's events show the notice was sent."""
    return any(
        e.get("event") == "bot" and (e.get("metadata") or {}).get("utter_action") == NOTICE
        for e in events
    )


def consent_record(events: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """What a stored request records of the consent: the notice version the patient was shown
    (None if none was) and when they agreed."""
    return {
        "privacy_notice": version() if notice_was_sent(events) else None,
        "consented_at": datetime.now(timezone.utc),
    }
