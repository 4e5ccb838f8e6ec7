"""A conversation's events without timestamps, to compare two ways of serving the same model
(tests/quality/test_spine_rasa.py runs it with and without spine_rasa's fixes)."""
from __future__ import annotations

from typing import Any, List, Sequence


def _event(event: Any) -> List[Any]:
    data = event.as_dict()
    kind = data["event"]
    if kind == "user":
        return [
            kind,
            data.get("text"),
            (data.get("parse_data") or {}).get("intent", {}).get("name"),
        ]
    if kind == "bot":
        return [kind, data.get("text")]
    if kind == "action":
        confidence = data.get("confidence")
        return [kind, data.get("name"), data.get("policy"), round(confidence or 0.0, 5)]
    if kind == "slot":
        return [kind, data.get("name"), data.get("value")]
    return [kind]


async def conversations(agent: Any, texts: Sequence[str], turns: int = 4) -> List[List[Any]]:
    """``texts`` in conversations of ``turns`` messages each; every conversation's events."""
    digests = []
    for start in range(0, len(texts), turns):
        sender = f"digest-{start}"
        for text in texts[start : start + turns]:
            await agent.handle_text(text, sender_id=sender)
        tracker = await agent.tracker_store.retrieve(sender)
        digests.append([_event(event) for event in tracker.events])
    return digests
