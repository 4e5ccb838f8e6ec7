"""Small helpers shared by the project's NLU components."""
from __future__ import annotations

from typing import Iterable

from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message


def override_intent(
    message: Message,
    name: str,
    confidence: float,
    drop: Iterable[str] = (),
    only: bool = False,
) -> None:
    """Make ``name`` the predicted intent, first in the ranking.

    The rest of the ranking is kept without ``name`` and the intents in ``drop``, or emptied when
    ``only`` is set (a deterministic prediction such as a quick-reply payload).
    """
    prediction = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
    removed = {name, *drop}
    rest = [] if only else message.get(INTENT_RANKING_KEY) or []
    ranking = [prediction] + [r for r in rest if r.get(INTENT_NAME_KEY) not in removed]
    message.set(INTENT, prediction, add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
