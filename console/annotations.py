"""Annotations of user messages and their export as Rasa NLU training data."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cache
from typing import Dict, List, Tuple

import sqlalchemy as sa
import yaml

from console.indexer import EVENTS
from console.masking import mask_text
from console.review import known_names
from spine_content.topics import topic_titles
from spine_db.config import ROOT
from spine_db.models import Annotation

# Intents reviewers may choose besides the answer keys (the model's own set, minus the ones that
# are only set by components or payloads).
NOT_LABELS = {"nlu_fallback", "faq", "article"}


@cache
def labels() -> Tuple[str, ...]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = [i if isinstance(i, str) else next(iter(i)) for i in domain.get("intents", [])]
    return tuple(sorted(i for i in intents if i not in NOT_LABELS)) + tuple(sorted(topic_titles()))


class AnnotationError(ValueError):
    pass


def annotate(engine: sa.engine.Engine, sender_id: str, event_id: int, label: str, by: str) -> None:
    if label not in labels():
        raise AnnotationError("unknown label")
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(EVENTS.c.data).where(
                EVENTS.c.id == event_id,
                EVENTS.c.sender_id == sender_id,
                EVENTS.c.type_name == "user",
            )
        ).first()
        if row is None:
            raise AnnotationError("no such user message in this conversation")
        text = str(json.loads(row.data or "{}").get("text") or "").strip()
        if not text or text.startswith("/") or text.startswith("topic:"):
            raise AnnotationError("button payloads are not training examples")
        table = Annotation.__table__
        conn.execute(sa.delete(table).where(table.c.event_id == event_id))
        conn.execute(
            sa.insert(table).values(
                sender_id=sender_id,
                event_id=event_id,
                text=text,
                label=label,
                created_by=by,
                created_at=datetime.now(timezone.utc),
            )
        )


def labels_for(engine: sa.engine.Engine, sender_id: str) -> Dict[int, str]:
    table = Annotation.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.event_id, table.c.label).where(table.c.sender_id == sender_id)
        )
        return {r.event_id: r.label for r in rows}


def export_nlu_yaml(engine: sa.engine.Engine) -> str:
    """All annotations as Rasa NLU YAML (numbers, e-mail addresses and names masked; one block
    per label). Training data leaves the console, so it is masked for admins too."""
    table = Annotation.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.sender_id, table.c.label, table.c.text).order_by(
                table.c.label, table.c.id
            )
        ).all()
        names = known_names(conn, {row.sender_id for row in rows})
    grouped: Dict[str, List[str]] = {}
    for row in rows:
        text = " ".join(mask_text(row.text, names[row.sender_id]).split())
        if text not in grouped.setdefault(row.label, []):
            grouped[row.label].append(text)
    lines = ['version: "3.1"', "nlu:"]
    for label, texts in grouped.items():
        lines += [f"- intent: {label}", "  examples: |"]
        lines += [f"    - {t}" for t in texts]
    return "\n".join(lines) + "\n"
