"""Serving fixes for Rasa 3.6.21, applied by ``python -m spine_rasa`` (measured in bench/levers.md).

Each one removes work Rasa does on every start or message without changing a result:

- **No JAX import.** TensorFlow 2.12 imports JAX, when installed (it is one of its dependencies),
  for a TF-Lite converter helper inside ``try/except ImportError``. Serving never converts models;
  marking the module absent saves ~100 MB per process. Must run before TensorFlow is imported.
- **Models loaded for inference only.** ``RasaModel.load`` builds DIET/ResponseSelector weights by
  compiling the model with an optimizer and *training one step* on an example, then overwrites the
  weights from the checkpoint. For serving, building the prediction graph on the example does the
  same (the checkpoint restores every variable the prediction creates — checked, else Rasa's own
  load runs): ~400 MB less per process and about half the load time. Predictions are identical
  (tests/test_spine_rasa.py compares both loads on the held-out set). Fine-tuning keeps Rasa's way.
- **Action server replies validated with a prepared validator.** Rasa calls
  ``jsonschema.validate`` for every custom-action reply, which first re-validates Rasa's own schema
  against the JSON-Schema meta-schema: ~22 ms of CPU per custom action. The reply is still
  validated against the same schema, with the same errors.
- **Predictions call the traced graph directly.** Rasa calls its ``tf.function`` (traced once,
  with a shape-free input signature) for every DIET / ResponseSelector prediction; TensorFlow then
  re-derives, per call, which traced graph the arguments select and re-checks them against the
  signature — more CPU than running the graph. After Rasa's own first call has traced it, the
  arrays are converted to tensors of the signature's types and that one graph is called
  (TensorFlow still checks each input's shape against the graph). Same graph, same inputs.
- **A message's features combined once.** DIET and the ResponseSelector each ask the message for
  its features combined across featurizers (sparse matrices stacked with scipy, a deep copy
  first); the second asks for exactly what the first got. The combination is remembered on the
  message, keyed by attribute, featurizers and the number of features it has (a featurizer adding
  one makes a new combination).
- **One prediction batch per message.** DIET and the ResponseSelector each turn the message into
  model data (features per featurizer, padded, sorted), then into a batch through a Keras data
  generator built for the one message, then into tensors. For a prediction the model data depend
  only on the message's text features (no labels, no entity tags) and the featurizers the
  component reads, so when both read the same featurizers the second gets the first's batch, and
  the same tensors; the generator is skipped (one message makes one batch:
  ``prepare_batch(data, 0, 1)``, as the generator would). Each model still runs its own graph.
- **Sparse features joined directly.** Combining a message's sparse features (one matrix per
  featurizer, joined side by side, ~10 times per message) goes through ``scipy.sparse.hstack``,
  whose generic block-matrix code costs ~120 µs per join (~6 % of a worker's samples under load).
  Two COO matrices are joined by concatenating their arrays (~30 µs): the same matrix, same
  dtypes, same entry order (``join_coo``, tested against scipy). Anything else goes Rasa's way.
- **Graph runs without dask's scheduler.** Every parse and every action prediction is a run of
  Rasa's graph through ``dask.get``: per run Rasa recomputes the minimal schema for the targets
  (a recursive walk with list concatenation) and dask orders and schedules the tasks again —
  ~10 % of a message's CPU in a profile. The first run for a set of targets and inputs still goes
  through Rasa and dask, recording which node ran when; later runs call the same nodes in the
  recorded order with the same arguments. Errors are wrapped as Rasa wraps them.
- **The loaded model kept out of the garbage collector's full passes.** A worker holds ~530,000
  Python objects once the model is loaded (TensorFlow, spaCy, Rasa's graph); every full collection
  walks all of them (~370 ms, all of that worker's conversations waiting). After the load,
  ``gc.freeze()`` moves them to the permanent generation, so a full pass walks only what messages
  created since. Objects are still freed by reference counting; only reference cycles among the
  loaded model's own objects are never collected, and those live as long as the model anyway.
- **Rules indexed by their last previous action.** RulePolicy finds the rules that apply by
  testing every rule against the conversation's latest state, then the survivors against the
  state before, and so on; twice per prediction (text, then intent). A rule whose last state names
  a previous action can only apply after that action, so the first test now runs only on those
  rules plus the rules that name none; the same test, so the same rules survive. (Which of two
  equally long applicable rules wins follows the set's order, which depends on string hashing:
  already arbitrary in Rasa, per process.)
- **Slots copied directly.** Every tracker Rasa creates (reading one back, and once per event when
  the policies replay the conversation into states) shallow-copies each slot of the domain with
  ``copy.copy``, which goes through the generic pickle protocol (~2 µs a slot). Slot classes keep
  their state in ``__dict__`` and define no copy or pickle hooks, so a new instance with the same
  ``__dict__`` is the same copy (~0.4 µs). A slot class with any such hook, or ``__slots__``, is
  copied Rasa's way.
- **Event classes looked up once.** Every event read back from the tracker store or an action
  reply walks all Event subclasses to find its class; the answer is remembered per type name.

Anything unexpected (another Rasa version, a fix failing to apply) leaves Rasa as shipped and logs
why. ``SPINE_RASA_FIXES=0`` turns them all off; ``SPINE_RASA_SKIP=name,...`` leaves out single
ones to measure them (names in ``apply()``).
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable, Dict, List, Type

logger = logging.getLogger(__name__)

RASA_VERSION = "3.6.21"  # the version these fixes were written and measured against


def enabled() -> bool:
    return os.environ.get("SPINE_RASA_FIXES", "1").strip() != "0"


def before_import() -> None:
    """Keep TensorFlow's optional JAX import out (a None entry makes ``import jax`` fail)."""
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("jax", None)  # type: ignore[arg-type]


def apply() -> bool:
    import rasa

    if rasa.__version__ != RASA_VERSION:
        logger.warning(
            "spine_rasa fixes not applied: written for Rasa %s, running %s",
            RASA_VERSION,
            rasa.__version__,
        )
        return False
    fixes: Dict[str, Callable[[], None]] = {
        "inference_load": _load_models_for_inference,
        "reply_validator": _prepared_action_reply_validator,
        "event_classes": _cached_event_classes,
        "slot_copy": _slots_copied_directly,
        "direct_predictions": _direct_prediction_calls,
        "features_once": _features_combined_once,
        "batch_once": _one_prediction_batch_per_message,
        "sparse_join": _sparse_features_joined_directly,
        "graph_runs": _graph_runs_without_dask,
        "rule_index": _rules_indexed_by_previous_action,
        "gc_freeze": _collector_skips_the_loaded_model,
    }
    skipped = {name.strip() for name in os.environ.get("SPINE_RASA_SKIP", "").split(",")} - {""}
    if skipped - fixes.keys():
        logger.warning(
            "SPINE_RASA_SKIP: no fix named %s", ", ".join(sorted(skipped - fixes.keys()))
        )
    for name, fix in fixes.items():
        if name not in skipped:
            fix()
    logger.info(
        "spine_rasa serving fixes applied%s (SPINE_RASA_FIXES=0 turns them off)",
        f" except {', '.join(sorted(skipped & fixes.keys()))}" if skipped & fixes.keys() else "",
    )
    return True


def _installed(owner: Any, name: str) -> bool:
    """Whether ``owner.name`` is already ours (``apply()`` may run more than once)."""
    return bool(getattr(getattr(owner, name), "_spine", False))


def _install(
    owner: Any, name: str, function: Callable[..., Any], kind: Callable[..., Any] | None = None
) -> None:
    """Put ``function`` in place of ``owner.name`` (as a classmethod/staticmethod if ``kind``)."""
    function._spine = True  # type: ignore[attr-defined]
    setattr(owner, name, kind(function) if kind else function)


def _load_models_for_inference() -> None:
    from rasa.utils.tensorflow.models import RasaModel

    if _installed(RasaModel, "load"):
        return
    rasa_load = RasaModel.load.__func__  # type: ignore[attr-defined]

    def load(  # type: ignore[no-untyped-def]
        cls,
        model_file_name,
        model_data_example,
        predict_data_example=None,
        finetune_mode=False,
        *args,
        **kwargs,
    ):
        def as_shipped():  # type: ignore[no-untyped-def]
            return rasa_load(
                cls,
                model_file_name,
                model_data_example,
                predict_data_example,
                finetune_mode,
                *args,
                **kwargs,
            )

        if finetune_mode or predict_data_example is None:
            return as_shipped()
        try:
            model = cls(*args, **kwargs)
            status = model.load_weights(model_file_name)  # restored as variables get created
            model.run_inference(predict_data_example)  # creates the prediction variables
            status.assert_existing_objects_matched()  # each of them came from the checkpoint
            return model
        except Exception as error:  # noqa: BLE001 - any surprise: Rasa's own way
            logger.warning("inference-only load failed (%s); using Rasa's load", error)
            return as_shipped()

    _install(RasaModel, "load", load, classmethod)


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


def _direct_prediction_calls() -> None:
    import tensorflow as tf
    from keras.utils import tf_utils
    from rasa.shared.constants import DIAGNOSTIC_DATA
    from rasa.utils.tensorflow.models import RasaModel

    if _installed(RasaModel, "_rasa_predict"):
        return
    rasa_predict = RasaModel._rasa_predict
    direct = "_spine_direct"
    last: List[Any] = [None, None, None]  # the latest batch, its dtypes and its tensors

    def _rasa_predict(self: RasaModel, batch_in: Any) -> Any:
        call = self.__dict__.get(direct)
        if call is None:
            outputs = rasa_predict(self, batch_in)  # Rasa's way, which traces on first use
            if self._tf_predict_step is not None and not self._run_eagerly:
                graph = self._tf_predict_step.get_concrete_function()
                dtypes = [spec.dtype for spec in graph.structured_input_signature[0][0]]
                setattr(self, direct, (graph, dtypes))
            return outputs
        graph, dtypes = call
        self._training = False
        if last[0] is batch_in and last[1] == dtypes:  # the batch another model just ran
            tensors = last[2]
        else:
            tensors = [
                tf.convert_to_tensor(array, dtype)
                for array, dtype in zip(batch_in, dtypes, strict=True)
            ]
            last[:] = [batch_in, dtypes, tensors]  # a strong reference: `is` stays meaningful
        outputs = tf_utils.sync_to_numpy_or_python_type(
            graph._call_flat(tensors, graph.captured_inputs)
        )
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return outputs

    _install(RasaModel, "_rasa_predict", _rasa_predict)


def _features_combined_once() -> None:
    from rasa.shared.nlu.training_data.message import Message

    if _installed(Message, "get_all_features"):
        return
    rasa_get_all_features = Message.get_all_features
    memo = "_spine_features"

    def get_all_features(
        self: Message, attribute: str, featurizers: List[str] | None = None
    ) -> List[Any]:
        key = (attribute, tuple(featurizers or ()), len(self.features))
        known = self.__dict__.setdefault(memo, {})
        if key not in known:
            known[key] = rasa_get_all_features(self, attribute, featurizers)
        return list(known[key])

    _install(Message, "get_all_features", get_all_features)


def _one_prediction_batch_per_message() -> None:
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier
    from rasa.utils.tensorflow.constants import FEATURIZERS
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    if _installed(DIETClassifier, "_predict"):
        return
    rasa_predict = DIETClassifier._predict
    rasa_create_model_data = DIETClassifier._create_model_data
    memo = "_spine_batches"

    def _predict(self: DIETClassifier, message: Any) -> Any:
        if self.model is None or type(self)._create_model_data is not rasa_create_model_data:
            return rasa_predict(self, message)
        key = (
            tuple(self.component_config.get(FEATURIZERS) or ()),
            len(message.features),
            self.label_key,
            self.label_sub_key,
        )
        known = message.__dict__.setdefault(memo, {})
        if key not in known:
            model_data = self._create_model_data([message], training=False)
            known[key] = (
                None
                if model_data.is_empty()
                else RasaBatchDataGenerator.prepare_batch(model_data.data, 0, 1)
            )
        batch_in = known[key]
        if batch_in is None:
            return None
        return self.model._merge_batch_outputs({}, self.model._rasa_predict(batch_in))

    _install(DIETClassifier, "_predict", _predict)


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


def _rules_indexed_by_previous_action() -> None:
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET
    from rasa.shared.nlu.constants import ACTION_NAME

    if _installed(RulePolicy, "_get_possible_keys"):
        return
    rasa_get_possible_keys = RulePolicy._get_possible_keys
    memo = "_spine_rule_index"

    def index(policy: RulePolicy, lookup: Dict[str, str]) -> Any:
        """(lookup, rules by the action name of their last state's previous action, the rest)."""
        by_lookup = policy.__dict__.setdefault(memo, {})
        known = by_lookup.get(id(lookup))
        if known is None or known[0] is not lookup or known[3] != len(lookup):
            by_action: Dict[str, List[str]] = {}
            unnamed: List[str] = []
            for key in lookup:
                states = policy._rule_key_to_state(key)
                name = (states[-1].get(PREVIOUS_ACTION) or {}).get(ACTION_NAME) if states else None
                if isinstance(name, str) and name and name != SHOULD_NOT_BE_SET:
                    by_action.setdefault(name, []).append(key)
                else:
                    unnamed.append(key)
            known = by_lookup[id(lookup)] = (lookup, by_action, unnamed, len(lookup))
        return known

    def _get_possible_keys(self: RulePolicy, lookup: Dict[str, str], states: List[Any]) -> Any:
        if not states:
            return rasa_get_possible_keys(self, lookup, states)
        _, by_action, unnamed, _ = index(self, lookup)
        latest = states[-1]
        name = (latest.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME)
        candidates = unnamed + by_action.get(name, []) if isinstance(name, str) else unnamed
        possible_keys = set(
            filter(lambda key: self._is_rule_applicable(key, 0, latest), candidates)
        )
        for i, state in enumerate(reversed(states)):
            if i == 0:
                continue
            possible_keys = set(
                filter(lambda key: self._is_rule_applicable(key, i, state), possible_keys)
            )
        return possible_keys

    _install(RulePolicy, "_get_possible_keys", _get_possible_keys)


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
