"""Read-only access to the project's single source of facts in ``content/``."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Dict

import yaml

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"


@cache
def topic_titles(path: Path = CONTENT_DIR / "topics.yml") -> Dict[str, str]:
    """Map each answer key (``faq/recovery_time``) to its short button title."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {key: str(value["title"]) for key, value in (data.get("topics") or {}).items()}


def topic_button(key: str, titles: Dict[str, str]) -> Dict[str, str]:
    """A quick-reply button that asks for the answer ``key`` (see RetrievalRouter)."""
    return {"title": titles[key], "payload": f"topic:{key}"}
