"""Serving fixes for Rasa 3.6.21 where Rasa has no extension point, applied by
``python -m spine_rasa`` (each measured in bench/levers.md or docs/benchmark.md).

What Rasa lets a project replace is replaced there and named in ``config.yml``: DIET and the
ResponseSelector with a lean load and prediction (spine_rasa/components.py), RulePolicy with an
indexed rule search (spine_rasa/policies.py). What is left here changes code Rasa gives no
setting or class for; each fix removes work Rasa does on every start or message without
changing a result (the action call's window changes what an action sees after 30 turns, as it
says):

- **No JAX import.** TensorFlow 2.12 imports JAX, when installed (it is one of its dependencies),
  for a TF-Lite converter helper inside ``try/except ImportError``. Serving never converts models;
  marking the module absent saves ~100 MB per process. Must run before TensorFlow is imported.
- **Action server replies validated with a prepared validator.** Rasa calls
  ``jsonschema.validate`` for every custom-action reply, which first re-validates Rasa's own schema
  against the JSON-Schema meta-schema: ~22 ms of CPU per custom action. The reply is still
  validated against the same schema, with the same errors.
- **Sparse features joined directly.** Combining a message's sparse features (one matrix per
  featurizer, joined side by side, ~10 times per message) goes through ``scipy.sparse.hstack``,
  whose generic block-matrix code costs ~120 µs per join (~6 % of a worker's samples under load).
  Two COO matrices are joined by concatenating their arrays (~30 µs): the same matrix, same
  dtypes, same entry order (``join_coo``, tested against scipy). Anything else goes Rasa's way.
- **Graph runs without dask's scheduler.** Every parse and every action prediction is a run of
  Rasa's graph through ``dask.get``: per run Rasa recomputes the minimal schema for the targets
  (a recursive walk with list concatenation) and dask orders and schedules the tasks again —
  ~10 % of a message's CPU in a profile. The graph runner is not configurable in Rasa 3.6
  (``MessageProcessor`` names ``DaskGraphRunner``). The first run for a set of targets and inputs
  still goes through Rasa and dask, recording which node ran when; later runs call the same nodes
  in the recorded order with the same arguments. Errors are wrapped as Rasa wraps them.
- **The loaded model kept out of the garbage collector's full passes.** A worker holds ~530,000
  Python objects once the model is loaded (TensorFlow, spaCy, Rasa's graph); every full collection
  walks all of them (~370 ms, all of that worker's conversations waiting). After the load,
  ``gc.freeze()`` moves them to the permanent generation, so a full pass walks only what messages
  created since. Objects are still freed by reference counting; only reference cycles among the
  loaded model's own objects are never collected, and those live as long as the model anyway.
- **Slots copied directly.** Every tracker Rasa creates (reading one back, and once per event when
  the policies replay the conversation into states) shallow-copies each slot of the domain with
  ``copy.copy``, which goes through the generic pickle protocol (~2 µs a slot). Slot classes keep
  their state in ``__dict__`` and define no copy or pickle hooks, so a new instance with the same
  ``__dict__`` is the same copy (~0.4 µs). A slot class with any such hook, or ``__slots__``, is
  copied Rasa's way.
- **The action server gets the conversation's last turns.** Rasa sends every event of the session
  with each custom-action call (``RemoteAction._action_call_format``: the whole tracker as JSON),
  so the call grows with the session: ~35 ms to build and ~25 ms for the action server to read
  at 2,500 events, a few hundred messages of one long-lived WhatsApp sender. The actions read
  back at most a few turns (the previous answer, the doctors in view, the form's start, the
  privacy notice before the first personal question), so the call carries the events from the
  ``ACTION_TURNS``-th last user message on; the slots, the latest message and the active form
  are sent as before. The two actions that report the conversation's size (what this chat holds,
  deleting it) still get every event. A notice sent more than ``ACTION_TURNS`` turns before a
  booking is shown again, and "the first doctor you said" counts from there.
- **Event classes looked up once.** Every event read back from the tracker store or an action
  reply walks all Event subclasses to find its class; the answer is remembered per type name.

Each fix names the shipped functions it replaces (``fixes()``); one whose function's source is not
the one recorded in spine_rasa/shipped.py, or that fails to install, is left out and logged, and
Rasa's own code runs there. The production start refuses to run with any fix missing
(spine_rasa/__main__.py): the pods' memory limits are sized for the fixed process.
``SPINE_RASA_FIXES=0`` turns every fix and the components' lean paths off (Rasa as shipped);
``SPINE_RASA_SKIP=name,...`` leaves out single fixes to measure them.
"""
from __future__ import annotations

import inspect
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Sequence, Tuple, Type

from spine_rasa.shipped import changed, resolve

if TYPE_CHECKING:
    from rasa.shared.core.events import Event

logger = logging.getLogger(__name__)

RASA_VERSION = "3.6.21"  # the version these fixes were written and measured against


def enabled() -> bool:
    return os.environ.get("SPINE_RASA_FIXES", "1").strip() != "0"


def before_import() -> None:
    """Keep TensorFlow's optional JAX import out (a None entry makes ``import jax`` fail)."""
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("jax", None)  # type: ignore[arg-type]


@dataclass
class Report:
    """What ``apply()`` did: the fixes in place, those left out on purpose, and those that could
    not be applied, with why."""

    applied: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    failed: Dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.skipped


def fixes() -> Dict[str, Tuple[Callable[[], None], List[str]]]:
    """Each fix by name: the function installing it and the shipped functions it replaces."""
    return {
        "reply_validator": (
            _prepared_action_reply_validator,
            [
                "rasa.core.actions.action:RemoteAction._validate_action_result",
                "rasa.core.actions.action:RemoteAction.action_response_format_spec",
            ],
        ),
        "event_classes": (
            _cached_event_classes,
            ["rasa.shared.core.events:Event.resolve_by_type"],
        ),
        "slot_copy": (_slots_copied_directly, ["rasa.shared.core.slots:Slot"]),
        "sparse_join": (
            _sparse_features_joined_directly,
            ["rasa.shared.nlu.training_data.features:Features._combine_sparse_features"],
        ),
        "graph_runs": (
            _graph_runs_without_dask,
            [
                "rasa.engine.runner.dask:DaskGraphRunner",
            ],
        ),
        "gc_freeze": (
            _collector_skips_the_loaded_model,
            ["rasa.core.run:load_agent_on_start"],
        ),
        "action_turns": (
            _recent_turns_to_the_action_server,
            [
                "rasa.core.actions.action:RemoteAction._action_call_format",
                "rasa.shared.core.trackers:DialogueStateTracker.current_state",
            ],
        ),
    }


def apply(expected: Dict[str, str] | None = None) -> Report:
    """Installs every fix whose shipped functions are as recorded (``spine_rasa/shipped.py``;
    ``expected`` replaces that record, for tests). A fix that does not match or fails to install
    is left out, Rasa's own code runs there, and the report says why."""
    import rasa

    report = Report()
    known = fixes()
    if rasa.__version__ != RASA_VERSION:
        why = f"written for Rasa {RASA_VERSION}, running {rasa.__version__}"
        report.failed = {name: why for name in known}
        logger.warning("spine_rasa fixes not applied: %s", why)
        return report
    skipped = {name.strip() for name in os.environ.get("SPINE_RASA_SKIP", "").split(",")} - {""}
    if skipped - known.keys():
        logger.warning(
            "SPINE_RASA_SKIP: no fix named %s", ", ".join(sorted(skipped - known.keys()))
        )
    for name, (install, targets) in known.items():
        if name in skipped:
            report.skipped.append(name)
            continue
        if any(getattr(resolve(target, shipped=False), "_spine", False) for target in targets):
            report.applied.append(name)  # installed by an earlier call in this process
            continue
        different = changed(targets, expected)
        if different:
            report.failed[name] = "Rasa's code changed: " + ", ".join(different)
            continue
        try:
            install()
        except Exception as error:  # noqa: BLE001 - any surprise leaves Rasa's own code
            report.failed[name] = f"{type(error).__name__}: {error}"
            continue
        report.applied.append(name)
    for name, why in report.failed.items():
        logger.warning("spine_rasa fix %s not applied (%s)", name, why)
    logger.info(
        "spine_rasa serving fixes applied: %s%s (SPINE_RASA_FIXES=0 turns them off)",
        ", ".join(report.applied) or "none",
        f"; left out: {', '.join(sorted(report.skipped))}" if report.skipped else "",
    )
    return report


def _installed(owner: Any, name: str) -> bool:
    """Whether ``owner.name`` is already ours (``apply()`` may run more than once)."""
    return bool(getattr(getattr(owner, name), "_spine", False))


def _install(
    owner: Any, name: str, function: Callable[..., Any], kind: Callable[..., Any] | None = None
) -> None:
    """Put ``function`` in place of ``owner.name`` (as a classmethod/staticmethod if ``kind``),
    keeping Rasa's own on it: the guards fingerprint the code as shipped, even once replaced."""
    function._spine = True  # type: ignore[attr-defined]
    function._spine_original = inspect.getattr_static(owner, name, None)  # type: ignore[attr-defined]
    setattr(owner, name, kind(function) if kind else function)


def _prepared_action_reply_validator() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if _installed(RemoteAction, "_validate_action_result"):
        return
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, instead of on every reply
    validator = validator_class(schema)

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as e:  # same message as Rasa's
            e.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e

    _install(RemoteAction, "_validate_action_result", _validate_action_result)


def _cached_event_classes() -> None:
    from rasa.shared.core.events import Event

    if _installed(Event, "resolve_by_type"):
        return
    rasa_resolve = Event.resolve_by_type
    known: Dict[str, Type[Event]] = {}

    def resolve_by_type(type_name: str, default: Type[Event] | None = None) -> Type[Event] | None:
        found = known.get(type_name)
        if found is not None:
            return found
        result = rasa_resolve(type_name, default)  # unknown types: Rasa's default/None/error
        if result is not None and result.type_name == type_name:
            known[type_name] = result
        return result

    _install(Event, "resolve_by_type", resolve_by_type, staticmethod)


def plain_copy_safe(cls: type, ours: Any = None) -> bool:
    """Whether ``copy.copy`` of a ``cls`` instance is a new instance with the same ``__dict__``:
    no copy or pickle hook anywhere in its classes (``ours`` aside), no non-empty ``__slots__``."""
    hooks = ("__copy__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__")
    for klass in cls.__mro__:
        if klass is object:
            continue
        namespace = vars(klass)
        if namespace.get("__slots__"):
            return False
        if any(namespace.get(hook) not in (None, ours) for hook in hooks):
            return False
    return True


def _slots_copied_directly() -> None:
    import copy

    from rasa.shared.core.slots import Slot

    if "__copy__" in vars(Slot):
        return
    safe: Dict[type, bool] = {}

    def __copy__(self: Slot) -> Slot:
        cls = type(self)
        if cls not in safe:
            safe[cls] = plain_copy_safe(cls, ours=__copy__)
        if not safe[cls]:  # Rasa's way: copy.copy without the __copy__ hook
            return copy._reconstruct(self, None, *self.__reduce_ex__(4))  # type: ignore
        new = object.__new__(cls)
        new.__dict__.update(self.__dict__)
        return new

    _install(Slot, "__copy__", __copy__)


def join_coo(left: Any, right: Any) -> Any:
    """``scipy.sparse.hstack([left, right])`` for two COO matrices with the same number of rows."""
    import numpy as np
    import scipy.sparse

    return scipy.sparse.coo_matrix(
        (
            np.concatenate((left.data, right.data)),
            (
                np.concatenate((left.row, right.row)),
                np.concatenate((left.col, right.col + left.shape[1])),
            ),
        ),
        shape=(left.shape[0], left.shape[1] + right.shape[1]),
    )


def _sparse_features_joined_directly() -> None:
    import scipy.sparse
    from rasa.shared.nlu.training_data.features import Features

    if _installed(Features, "_combine_sparse_features"):
        return
    rasa_combine_sparse_features = Features._combine_sparse_features
    coo = scipy.sparse.isspmatrix_coo

    def _combine_sparse_features(self: Features, additional_features: Features) -> None:
        left, right = self.features, additional_features.features
        if not (coo(left) and coo(right)) or left.shape[0] != right.shape[0]:
            return rasa_combine_sparse_features(self, additional_features)  # and its errors
        self.features = join_coo(left, right)
        self._cached_fingerprint = None

    _install(Features, "_combine_sparse_features", _combine_sparse_features)


def _graph_runs_without_dask() -> None:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    if _installed(DaskGraphRunner, "run"):
        return
    rasa_run = DaskGraphRunner.run
    memo = "_spine_plans"

    class Recorder:
        """Stands in for a graph node during Rasa's run and notes when dask called it."""

        def __init__(self, name: str, node: Any, order: List[str]) -> None:
            self.name, self.node, self.order = name, node, order

        def __call__(self, *inputs: Any) -> Any:
            self.order.append(self.name)
            return self.node(*inputs)

    def run(
        self: DaskGraphRunner,
        inputs: Dict[str, Any] | None = None,
        targets: List[str] | None = None,
    ) -> Dict[str, Any]:
        inputs = inputs or {}
        key = (tuple(targets or ()), tuple(inputs))
        plans = self.__dict__.setdefault(memo, {})
        plan = plans.get(key)
        if plan is None:
            nodes = self._instantiated_nodes
            order: List[str] = []
            self._instantiated_nodes = {
                name: Recorder(name, node, order) for name, node in nodes.items()
            }
            try:
                result = rasa_run(self, inputs or None, targets)
            finally:
                self._instantiated_nodes = nodes
            schema = self._graph_schema.nodes
            plans[key] = [(name, tuple(schema[name].needs.values())) for name in order]
            return result
        if any(
            isinstance(value, str) and value in self._graph_schema.nodes
            for value in inputs.values()
        ):
            return rasa_run(self, inputs, targets)  # Rasa reports the name clash
        results: Dict[str, Any] = {name: (name, value) for name, value in inputs.items()}
        nodes = self._instantiated_nodes
        try:
            for name, needs in plan:
                results[name] = nodes[name](*(results[need] for need in needs))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(results[target] for target in (targets or self._graph_schema.target_names))

    _install(DaskGraphRunner, "run", run)


def _collector_skips_the_loaded_model() -> None:
    import gc

    import rasa.core.run

    if _installed(rasa.core.run, "load_agent_on_start"):
        return
    rasa_load_agent_on_start = rasa.core.run.load_agent_on_start

    async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
        agent = await rasa_load_agent_on_start(*args, **kwargs)
        gc.collect()  # what loading left as garbage is freed, not frozen
        gc.freeze()
        logger.info(
            "loaded model frozen for the garbage collector (%d objects)", gc.get_freeze_count()
        )
        return agent

    _install(rasa.core.run, "load_agent_on_start", load_agent_on_start)


# The turns an action's call carries: far more than any action reads back (a booking form asks
# eight questions; follow-ups point two turns back).
ACTION_TURNS = 30
# Actions that count the whole session's messages.
WHOLE_SESSION_ACTIONS = frozenset({"action_erase_my_data", "action_my_data"})


def recent_events(events: Sequence[Event], turns: int) -> List[Event]:
    """The events from the ``turns``-th last user message on (all of them when there are fewer
    user messages), read from the end so the cost does not grow with the session."""
    from rasa.shared.core.events import UserUttered

    recent: List[Event] = []
    seen = 0
    for event in reversed(events):
        recent.append(event)
        if isinstance(event, UserUttered):
            seen += 1
            if seen == turns:
                break
    recent.reverse()
    return recent


def action_call_format(
    action: Any, tracker: Any, domain: Any, turns: int = ACTION_TURNS
) -> Dict[str, Any]:
    """``RemoteAction._action_call_format`` as shipped in Rasa 3.6.21, with the tracker's events
    cut to its last ``turns`` turns (``current_state`` without events is the same state)."""
    import rasa

    if action.name() in WHOLE_SESSION_ACTIONS:
        original = resolve("rasa.core.actions.action:RemoteAction._action_call_format")
        return original(action, tracker, domain)  # type: ignore[no-any-return]
    tracker_state = tracker.current_state()  # EventVerbosity.NONE: no events
    tracker_state["events"] = [e.as_dict() for e in recent_events(tracker.events, turns)]
    result = {
        "next_action": action._name,
        "sender_id": tracker.sender_id,
        "tracker": tracker_state,
        "version": rasa.__version__,
    }
    if (
        not action._is_selective_domain_enabled()
        or domain.does_custom_action_explicitly_need_domain(action.name())
    ):
        result["domain"] = domain.as_dict()
    return result


def _recent_turns_to_the_action_server() -> None:
    from rasa.core.actions.action import RemoteAction

    if _installed(RemoteAction, "_action_call_format"):
        return

    def _action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> Dict[str, Any]:
        return action_call_format(self, tracker, domain)

    _install(RemoteAction, "_action_call_format", _action_call_format)
