"""A conversation tracker that remembers the dialogue states it has already computed.

Every prediction asks the tracker for its past states (``DialogueStateTracker.past_states``),
and Rasa computes them from the first event every time: it replays the whole conversation and
builds one state per action (``Domain.states_for_tracker_history``). Each policy asks, once or
twice, for every action predicted, so a long-lived sender (a WhatsApp conversation runs for
weeks) pays for every message it ever sent, on every message: 18 ms per message at the first
message, 97 ms at the 300th on the default stack.

A state depends only on the events before it, and events are only ever appended, so the states
of the earlier actions never change. This tracker keeps, per way of asking (the arguments of
``past_states``), the states computed so far, the replayed tracker they were computed on and the
two variables Rasa's loop carries; a later call replays only the new events. Rasa can only undo
the end of the applied events (reverts, a restart, a loop's unhappy path): when the last event
the cache consumed is no longer where it was in ``applied_events()``, or a form name appeared that
changes how earlier events apply, it starts again from the first event. The result is the same
list Rasa computes (tests/unit/test_spine_rasa_trackers.py compares them on long conversations
with forms, reverts and restarts).

The loop below follows ``Domain.states_for_tracker_history`` and
``DialogueStateTracker.generate_all_prior_trackers`` as shipped with Rasa 3.6.21; their
fingerprints are in spine_rasa/shipped.py, and the guard test fails when either changes.

A policy that reads only the last few states (MemoizationPolicy its ``max_history``, RulePolicy
its longest rule) says so with ``last_states``; the tracker then hands out only that tail, so
the states it copies for the caller do not grow with the conversation either.

The store (spine_rasa/tracker_store.py) hands out the same tracker for the next message of a
conversation when the database holds nothing it has not seen, so the memory lasts across turns.
"""
from __future__ import annotations

import copy
import itertools
import json
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterator, List, Tuple

from rasa.shared.core.constants import ACTION_UNLIKELY_INTENT_NAME, PREVIOUS_ACTION, USER
from rasa.shared.core.domain import Domain, State, SubState
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME

_Key = Tuple[int, bool, bool, str]


@dataclass
class _States:
    """Rasa's loop over the prior trackers, stopped after the last event it consumed."""

    domain: Domain
    running: DialogueStateTracker
    loop_names: FrozenSet[str]
    consumed: int = 0
    last_event: Event | None = None
    states: List[State] = field(default_factory=list)
    last_ml_action_sub_state: SubState | None = None
    turn_was_hidden: bool = False

    def step(
        self,
        hide_rule_turn: bool,
        omit_unset_slots: bool,
        ignore_rule_only_turns: bool,
        rule_only_data: Dict[str, Any] | None,
    ) -> State | None:
        """One iteration of ``states_for_tracker_history``'s loop on the running tracker."""
        domain, tr = self.domain, self.running
        if ignore_rule_only_turns:
            if not self.turn_was_hidden:
                self.last_ml_action_sub_state = domain._get_prev_action_sub_state(tr)
            if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
                self.turn_was_hidden = hide_rule_turn
            if self.turn_was_hidden:
                return None
        state = domain.get_active_state(tr, omit_unset_slots=omit_unset_slots)
        if ignore_rule_only_turns:
            domain._remove_rule_only_features(state, rule_only_data)
            if self.states:
                domain._substitute_rule_only_user_input(state, self.states[-1])
            if self.last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = self.last_ml_action_sub_state
        return domain._clean_state(state)


def _loop_names(events: Any) -> FrozenSet[str]:
    return frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)


# Events after which Rasa's applied events are not the earlier ones plus the new ones.
_RESHAPING = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted, ActiveLoop)


@dataclass
class _Applied:
    seen: int  # events of the tracker read
    applied: List[Event]
    loop_names: FrozenSet[str]


class ConversationTracker(DialogueStateTracker):
    """``DialogueStateTracker`` whose ``applied_events`` and ``past_states`` resume where the
    last call stopped."""

    _spine_states: Dict[_Key, _States]
    _spine_applied: _Applied | None

    def applied_events(self) -> List[Event]:
        """Rasa's applied events, from the last call's and the events added since, when none
        of those can undo or reset what came before (a revert, a restart, a new session, a form
        that is activated or runs again); otherwise Rasa's own, from the first event. Every
        caller gets its own list."""
        known: _Applied | None = self.__dict__.get("_spine_applied")
        total = len(self.events)
        if known is not None and self._max_event_history is None and known.seen <= total:
            new = list(itertools.islice(self.events, known.seen, total))
            if not any(
                isinstance(event, _RESHAPING)
                or (isinstance(event, ActionExecuted) and event.action_name in known.loop_names)
                for event in new
            ):
                known.applied.extend(new)
                known.seen = total
                return list(known.applied)
        applied = super().applied_events()
        self.__dict__["_spine_applied"] = _Applied(total, list(applied), _loop_names(self.events))
        return applied

    def copy(self) -> DialogueStateTracker:
        """Rasa's copy with the state taken over instead of recomputed.

        Rasa copies the tracker before every action it runs (``MessageProcessor._run_action``)
        by replaying every event into a new tracker: a cost that grows with the conversation,
        paid two or three times per message. Rasa's own rule is that a tracker's state is what
        replaying its events gives, so this copy takes the events and a copy of each piece of
        that state (the slots, the loop, the latest action) and is otherwise the tracker
        Rasa's copy returns: a plain ``DialogueStateTracker`` with nothing remembered.
        tests/unit/test_spine_rasa_trackers.py compares the two after every event of long
        random conversations, and after events applied to the copy alone.

        A tracker that forgets its oldest events (``max_event_history``) cannot be rebuilt from
        the ones it holds, and Rasa's copy of it differs from its state: that one is Rasa's."""
        if self._max_event_history is not None:
            return super().copy()
        new = self.init_copy()
        new.events = deque(self.events)
        new.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
        new._paused = self._paused
        new.followup_action = self.followup_action
        new.latest_action = copy.copy(self.latest_action)
        new.latest_message = self.latest_message
        new.latest_bot_utterance = self.latest_bot_utterance
        new.active_loop = copy.copy(self.active_loop)
        return new

    def past_states(
        self,
        domain: Domain,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: Dict[str, Any] | None = None,
    ) -> List[State]:
        memo = self.__dict__.setdefault("_spine_states", {})
        key = (
            id(domain),
            omit_unset_slots,
            ignore_rule_only_turns,
            json.dumps(rule_only_data, sort_keys=True, default=str),
        )
        applied = self.applied_events()
        names = self.__dict__["_spine_applied"].loop_names
        known = memo.get(key)
        if (
            known is None
            or known.domain is not domain
            or known.loop_names != names
            or known.consumed > len(applied)
            or (known.consumed and applied[known.consumed - 1] is not known.last_event)
        ):
            known = memo[key] = _States(domain, self.init_copy(), names)
        args = (omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        for event in applied[known.consumed :]:
            if isinstance(event, ActionExecuted):
                state = known.step(event.hide_rule_turn, *args)
                if state is not None:
                    known.states.append(state)
            known.running.update(event)
        known.consumed = len(applied)
        known.last_event = applied[-1] if applied else None
        # The state of now (Rasa's last `yield tracker, False`) changes with the next event:
        # computed on copies of the loop's variables, never kept.
        now = copy.copy(known)
        last = now.step(False, *args)
        # The featurizer deletes the text or the intent from the user part of the states it gets,
        # and Rasa's states share that part where a rule turn took the previous one's: each caller
        # gets its own copies, shared among themselves exactly as Rasa's are.
        copies: Dict[int, Any] = {}
        states = _tail(known.states, self.__dict__.get("_spine_last"), last)
        return [_own(state, copies) for state in states]


@contextmanager
def last_states(tracker: DialogueStateTracker, count: int | None) -> Iterator[None]:
    """Within the block, ``tracker.past_states`` may return only its last ``count`` states
    (not counting the ``action_unlikely_intent`` turns Rasa's featurizer drops before it keeps
    the last ``max_history``). For a caller that reads no further back, the result is the same."""
    if count is None or not isinstance(tracker, ConversationTracker):
        yield
        return
    tracker.__dict__["_spine_last"] = count
    try:
        yield
    finally:
        tracker.__dict__.pop("_spine_last", None)


def _tail(states: List[State], count: int | None, last: State | None) -> List[State]:
    """``states`` and ``last``, or their shortest tail with ``count`` states that are not an
    ``action_unlikely_intent`` turn (without copying the states before it)."""
    end = [last] if last is not None else []
    if count is None:
        return states + end
    kept = sum(1 for state in end if not _unlikely(state))
    start = len(states)
    while start > 0 and kept < count:
        start -= 1
        kept += not _unlikely(states[start])
    return states[start:] + end


def _unlikely(state: State) -> bool:
    return (state.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME) == ACTION_UNLIKELY_INTENT_NAME


def _own(state: State, copies: Dict[int, Any]) -> State:
    own = dict(state)
    user = own.get(USER)
    if isinstance(user, dict):
        if id(user) not in copies:
            copies[id(user)] = dict(user)
        own[USER] = copies[id(user)]
    return own
