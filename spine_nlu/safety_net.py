"""``SafetyNetPolicy``: after the answer to a message that describes an ordinary symptom, one short
line on what would make it urgent ("safety-netting", as clinicians do at the end of a consult).

RedFlagDetector marks such a message in its parse data (``safety_net``: the flag and the response
that nets it, from the ``routine`` flags of content/red_flags.yml). The answer itself comes from
the rules as usual; once it has been given, this policy predicts the net response, then listening.
It stays out of forms (a form's next question must follow an answer given inside it) and acts only
after the actions that end a turn, so no rule's later step is pre-empted. Domain responses only:
nothing here needs the action server.
"""
from __future__ import annotations

from typing import Any, Dict, List

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from spine_nlu.red_flags import SAFETY_NET_KEY

# Actions after which a turn ends in this assistant (answers, refusals, clarifications).
TURN_ENDING_ACTIONS = (
    "utter_faq",
    "utter_article",
    "utter_no_diagnosis",
    "utter_no_treatment_decision",
    "utter_no_dosing",
    "utter_health_other",
    "utter_out_of_scope",
    "action_clarify_topic",
)


def actions_since_user(tracker: DialogueStateTracker) -> List[str]:
    """Names of the actions run since the latest user message, oldest first."""
    names: List[str] = []
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, ActionExecuted) and event.action_name:
            names.append(event.action_name)
    return names[::-1]


def said_since_user(tracker: DialogueStateTracker) -> bool:
    """Whether the bot has said anything since the latest user message (a failed custom action is
    still logged as run, with nothing said)."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered):
            return True
    return False


def next_action(tracker: DialogueStateTracker, after: tuple = TURN_ENDING_ACTIONS) -> str | None:
    """The net response to send now, ``action_listen`` right after it, or ``None``."""
    net = (
        (tracker.latest_message.parse_data or {}).get(SAFETY_NET_KEY)
        if tracker.latest_message
        else None
    )
    if not isinstance(net, dict) or not net.get("response") or tracker.active_loop_name:
        return None
    response = str(net["response"])
    done = actions_since_user(tracker)
    if response in done:
        return ACTION_LISTEN_NAME if done[-1] == response else None
    # Only after an answer that was given: a net line alone would hide a failed action from the
    # channel's "having trouble" reply.
    answered = done and done[-1] in after and said_since_user(tracker)
    return response if answered else None


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class SafetyNetPolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        # Above RulePolicy (6): after an answer the rules predict listening with the same
        # confidence; the net must come first.
        return {"priority": 7, "after_actions": list(TURN_ENDING_ACTIONS)}

    def train(
        self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        with self._model_storage.write_to(self._resource):
            pass  # nothing learnt: the nets come with each message's parse
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        result = self._default_predictions(domain)
        name = next_action(tracker, tuple(self.config.get("after_actions") or ()))
        if name is not None and name in domain.action_names_or_texts:
            result[domain.index_for_action(name)] = 1.0
        return self._prediction(result)
