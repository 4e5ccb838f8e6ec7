"""Small helpers shared by the project's NLU components."""
from __future__ import annotations

from typing import Iterable, Sequence

from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
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


RESPONSE_SELECTOR = "response_selector"
DEFAULT_SELECTOR = "default"


def select_response(
    message: Message, key: str, retrieval_intents: Sequence[str], confidence: float = 1.0
) -> None:
    """Answer ``message`` with the retrieval answer ``key`` (``faq/recovery_time``): intent and
    response selection set as if the classifiers had predicted them, so Rasa's own
    ``utter_faq`` / ``utter_article`` actions send it."""
    intent = key.split("/", 1)[0]
    override_intent(message, intent, confidence, only=True)
    selectors = dict(message.get(RESPONSE_SELECTOR) or {})
    selectors["all_retrieval_intents"] = list(retrieval_intents)
    selection = {
        "response": {
            "responses": [],
            PREDICTED_CONFIDENCE_KEY: confidence,
            INTENT_RESPONSE_KEY: key,
            "utter_action": "utter_" + key,
        },
        "ranking": [{PREDICTED_CONFIDENCE_KEY: confidence, INTENT_RESPONSE_KEY: key}],
    }
    selectors[DEFAULT_SELECTOR] = selection
    if intent in selectors:
        selectors[intent] = selection
    message.set(RESPONSE_SELECTOR, selectors, add_to_output=True)
