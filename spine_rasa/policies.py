"""RulePolicy and MemoizationPolicy as named in ``config.yml``: the rule search indexed by the
previous action, and both reading only the last states they use.

RulePolicy finds the rules that apply by testing every rule against the conversation's latest
state, then the survivors against the state before, and so on, twice per prediction (text, then
intent). A rule whose last state names a previous action can only apply right after that
action, so the first test runs only on those rules plus the rules that name none: the same test,
so the same rules survive. (Which of two equally long applicable rules wins follows the set's
order, which depends on string hashing: already arbitrary in Rasa, per process.)

Rasa then walks back over every state of the conversation, although a rule is applicable at
once when the walk is further back than the rule is long: the walk stops there, so its cost is
the longest rule's length, not the conversation's.

Neither policy reads further back than that (MemoizationPolicy: its ``max_history``), so both
ask the tracker for only that tail of the conversation's states (``last_states``,
spine_rasa/trackers.py) instead of a copy of every state since the session started.
"""
from __future__ import annotations

import json
import logging
import warnings
from typing import Any, Dict, List, Set, Tuple

from rasa.core.policies.memoization import MemoizationPolicy
from rasa.core.policies.policy import Policy
from rasa.core.policies.rule_policy import (
    RULES,
    RULES_FOR_LOOP_UNHAPPY_PATH,
    RULES_NOT_IN_STORIES,
    RulePolicy,
)
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME

from spine_rasa.fixes import enabled
from spine_rasa.trackers import last_states

# (the lookup indexed, its size, rules by previous action, rules naming none, states per rule)
# Rasa's recipe validator looks for RulePolicy by exact type: with this subclass it would warn
# that "restart" and "back" have no rule and skip its domain check (tests/unit run that check).
# The subclass predicts those default actions as RulePolicy does.
warnings.filterwarnings("ignore", message="'RulePolicy' is not included in the model's policy")

# SPINE_RASA_FIXES=0: Rasa's own search (to compare with, and to measure).
INDEXED = enabled()
_KEYED = (RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RULES_NOT_IN_STORIES)
_Index = Tuple[Dict[str, str], int, Dict[str, List[str]], List[str], Dict[str, int]]


class _LastStates(Policy):
    """A policy that asks the tracker for only the last ``_reach()`` states it reads."""

    def _reach(self) -> int | None:
        raise NotImplementedError

    def _prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: Dict[str, Any] | None = None,
    ) -> List[State]:
        with last_states(tracker, self._reach() if INDEXED else None):
            return super()._prediction_states(
                tracker, domain, use_text_for_last_user_input, rule_only_data
            )


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class IndexedRulePolicy(_LastStates, RulePolicy):
    """Rasa's RulePolicy, with the first step of its rule search indexed (module docstring) and
    its debug line about the conversation's states formatted only when it is logged."""

    _spine_index: Dict[int, _Index] | None = None
    _spine_reach: Tuple[int, int] | None = None

    def _reach(self) -> int:
        """States the rule search reads: one more than the longest rule or remembered source,
        so that where no rule applies, the key Rasa then makes of the states (checked against
        the rules not in stories) is longer than every key it could equal, as the full one is."""
        size = sum(len(self.lookup.get(name) or ()) for name in _KEYED)
        if self._spine_reach is None or self._spine_reach[0] != size:
            longest = max(
                (_states_in(key) for name in _KEYED for key in self.lookup.get(name) or ()),
                default=0,
            )
            self._spine_reach = (size, longest + 1)
        return self._spine_reach[1]

    def _index(self, lookup: Dict[str, str]) -> _Index:
        if self._spine_index is None:
            self._spine_index = {}
        known = self._spine_index.get(id(lookup))
        if known is None or known[0] is not lookup or known[1] != len(lookup):
            by_action: Dict[str, List[str]] = {}
            unnamed: List[str] = []
            lengths: Dict[str, int] = {}
            for key in lookup:
                states = self._rule_key_to_state(key)
                lengths[key] = len(states)
                name = (states[-1].get(PREVIOUS_ACTION) or {}).get(ACTION_NAME) if states else None
                if isinstance(name, str) and name and name != SHOULD_NOT_BE_SET:
                    by_action.setdefault(name, []).append(key)
                else:
                    unnamed.append(key)
            known = (lookup, len(lookup), by_action, unnamed, lengths)
            self._spine_index[id(lookup)] = known
        return known

    @staticmethod
    def format_tracker_states(states: List[Dict]) -> str:
        """Rasa formats every state of the conversation into one debug line on every rule
        search, whether or not debug lines are logged: a cost that grows with the conversation.
        Formatted here only when they are."""
        if not logging.getLogger(RulePolicy.__module__).isEnabledFor(logging.DEBUG):
            return ""
        return RulePolicy.format_tracker_states(states)

    def _get_possible_keys(self, lookup: Dict[str, str], states: List[Any]) -> Set[str]:
        if not INDEXED or not states:
            return super()._get_possible_keys(lookup, states)
        _, _, by_action, unnamed, lengths = self._index(lookup)
        latest = states[-1]
        name = (latest.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME)
        candidates = unnamed + by_action.get(name, []) if isinstance(name, str) else unnamed
        possible_keys = {key for key in candidates if self._is_rule_applicable(key, 0, latest)}
        for i, state in enumerate(reversed(states)):
            if i == 0:
                continue
            # Rasa's `_is_rule_applicable` is true for every rule shorter than `i`.
            if not possible_keys or i >= max(lengths[key] for key in possible_keys):
                break
            possible_keys = {
                key for key in possible_keys if self._is_rule_applicable(key, i, state)
            }
        return possible_keys


def _states_in(key: str) -> int:
    """States in a rule key (JSON); the remembered sources also hold names of default and loop
    rules, which are no states."""
    try:
        states = json.loads(key)
    except ValueError:
        return 0
    return len(states) if isinstance(states, list) else 0


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class RecentMemoizationPolicy(_LastStates, MemoizationPolicy):
    """Rasa's MemoizationPolicy, which looks up its last ``max_history`` states: it asks the
    tracker for those alone (module docstring)."""

    def _reach(self) -> int | None:
        return getattr(self.featurizer, "max_history", None)
