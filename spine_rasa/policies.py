"""RulePolicy with its rule search indexed by the previous action, named in ``config.yml``.

RulePolicy finds the rules that apply by testing every rule against the conversation's latest
state, then the survivors against the state before, and so on, twice per prediction (text, then
intent). A rule whose last state names a previous action can only apply right after that
action, so the first test runs only on those rules plus the rules that name none: the same test,
so the same rules survive. (Which of two equally long applicable rules wins follows the set's
order, which depends on string hashing: already arbitrary in Rasa, per process.)
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Dict, List, Set, Tuple

from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET
from rasa.shared.nlu.constants import ACTION_NAME

from spine_rasa.fixes import enabled

# (the lookup indexed, its size, rules by previous action, rules naming none)
# Rasa's recipe validator looks for RulePolicy by exact type: with this subclass it would warn
# that "restart" and "back" have no rule and skip its domain check (tests/unit run that check).
# The subclass predicts those default actions as RulePolicy does.
warnings.filterwarnings("ignore", message="'RulePolicy' is not included in the model's policy")

# SPINE_RASA_FIXES=0: Rasa's own search (to compare with, and to measure).
INDEXED = enabled()
_Index = Tuple[Dict[str, str], int, Dict[str, List[str]], List[str]]


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class IndexedRulePolicy(RulePolicy):
    """Rasa's RulePolicy, with the first step of its rule search indexed (module docstring) and
    its debug line about the conversation's states formatted only when it is logged."""

    _spine_index: Dict[int, _Index] | None = None

    def _index(self, lookup: Dict[str, str]) -> _Index:
        if self._spine_index is None:
            self._spine_index = {}
        known = self._spine_index.get(id(lookup))
        if known is None or known[0] is not lookup or known[1] != len(lookup):
            by_action: Dict[str, List[str]] = {}
            unnamed: List[str] = []
            for key in lookup:
                states = self._rule_key_to_state(key)
                name = (states[-1].get(PREVIOUS_ACTION) or {}).get(ACTION_NAME) if states else None
                if isinstance(name, str) and name and name != SHOULD_NOT_BE_SET:
                    by_action.setdefault(name, []).append(key)
                else:
                    unnamed.append(key)
            known = self._spine_index[id(lookup)] = (lookup, len(lookup), by_action, unnamed)
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
        _, _, by_action, unnamed = self._index(lookup)
        latest = states[-1]
        name = (latest.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME)
        candidates = unnamed + by_action.get(name, []) if isinstance(name, str) else unnamed
        possible_keys = {key for key in candidates if self._is_rule_applicable(key, 0, latest)}
        for i, state in enumerate(reversed(states)):
            if i == 0:
                continue
            possible_keys = {
                key for key in possible_keys if self._is_rule_applicable(key, i, state)
            }
        return possible_keys
