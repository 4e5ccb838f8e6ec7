"""console/indexer.py's fold: what a conversation's events add to its summary and the day's
counters."""
from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace
from typing import Any, Dict

from actions.triage import REPLAY_KEY
from console.indexer import fold


def _user(text: str, parse: Dict[str, Any], at: float) -> Any:
    data = {"text": text, "parse_data": parse, "input_channel": "webchat"}
    return SimpleNamespace(
        sender_id="web:a",
        timestamp=at,
        type_name="user",
        intent_name=parse["intent"]["name"],
        data=json.dumps(data),
    )


def test_a_message_replayed_after_a_check_question_counts_once() -> None:
    text = "please delete everything i told you"
    rows = [
        _user(text, {"intent": {"name": "crisis_check", "confidence": 0.3}}, 1.0),
        _user("no", {"intent": {"name": "deny", "confidence": 0.99}}, 2.0),
        _user(
            text,
            {"intent": {"name": "delete_my_data", "confidence": 0.8}, REPLAY_KEY: "crisis_check"},
            2.1,
        ),
    ]
    daily: Counter = Counter()
    delta = fold(rows, daily)["web:a"]
    assert delta.turns == 2
    assert sum(n for (_, metric, _), n in daily.items() if metric == "messages") == 2
    assert delta.last_at == 2.1
