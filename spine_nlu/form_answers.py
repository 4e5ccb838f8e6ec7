"""``FormAnswerMarker``: marks a message typed while a form waits for an answer.

A name, a mobile number or "tomorrow morning" typed into the booking form means nothing to the
classifiers, so its parse says ``nlu_fallback``; staff then saw it as "not understood", were
offered to annotate it, and it counted in the fallback rate. Rasa hands NLU components the
conversation's tracker when their ``process`` asks for one, so this component records in the
parse (``form_answer``: the form and the slot it asked for) that the message came as an answer.
It changes no intent: the form's own validation still decides whether it is an answer
(actions/forms.py), and a question typed into a form is still answered.
"""
from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

FORM_ANSWER_KEY = "form_answer"
REQUESTED_SLOT = "requested_slot"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class FormAnswerMarker(GraphComponent):
    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FormAnswerMarker:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(
        self, messages: List[Message], tracker: DialogueStateTracker | None = None
    ) -> List[Message]:
        if tracker is None:
            return messages
        form = tracker.active_loop_name
        slot = tracker.get_slot(REQUESTED_SLOT)
        if not form or not slot:
            return messages
        for message in messages:
            if str(message.get(TEXT) or "").startswith(("/", "topic:")):
                continue  # a button carries its own meaning
            message.set(FORM_ANSWER_KEY, {"form": form, "slot": slot}, add_to_output=True)
        return messages
