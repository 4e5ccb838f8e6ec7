"""spine_rasa's serving code changes no result: the lean components and the indexed rule search
(named in config.yml) and the fixes give the same parses and conversations as Rasa's own code on
every held-out message, the same validation of action-server replies, the same event classes.

Both run in their own processes, as `python -m spine_rasa` starts them: the served way, and Rasa
as shipped (``SPINE_RASA_FIXES=0``: no fix, the components behave as their parents).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List

import pytest

from devstack.servers import ROOT
from spine_nlu.evaluate import DEFAULT_HOLDOUT, load_examples

pytestmark = pytest.mark.model

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, os, sys
    logging.disable(logging.WARNING)
    from spine_rasa import fixes
    if fixes.enabled():
        fixes.before_import()
    from rasa.core.actions.action import RemoteAction
    from rasa.core.agent import Agent
    from rasa.shared.core.events import Event, SlotSet, UserUttered
    from jsonschema import ValidationError
    from spine_nlu.evaluate import DEFAULT_HOLDOUT, load_examples

    import gc
    LONG = 90
    # late in the session, turns whose rules are 3-4 states long (a reply to the previous question)
    LATE = [
        "my legs feel a bit weak since yesterday, is that normal", "yes",
        "sometimes i feel there is no point in going on with this pain", "no",
    ]
    served = fixes.enabled()
    report = fixes.apply() if served else None
    out = {
        "applied": report.applied if report else [],
        "failed": report.failed if report else {},
        "jax": repr(sys.modules.get("jax", "missing")),
    }

    async def predict():
        agent = Agent.load(sys.argv[1])
        return [await agent.parse_message(text) for text, _ in load_examples(DEFAULT_HOLDOUT)]

    out["parses"] = asyncio.run(predict())

    from tests.support.conversation_digest import conversations

    async def converse():
        agent = Agent.load(sys.argv[1])
        texts = [text for text, _ in load_examples(DEFAULT_HOLDOUT)]
        return agent, await conversations(agent, texts)

    talking_agent, out["conversations"] = asyncio.run(converse())

    async def converse_long():
        # one sender through the project's store: its trackers remember their states, and the
        # policies read only their last states once the session is longer than any rule
        import tempfile
        from spine_rasa.tracker_store import ProjectSQLTrackerStore
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/long.db"
        agent = Agent.load(sys.argv[1])
        agent.tracker_store = agent.processor.tracker_store = ProjectSQLTrackerStore(
            domain=agent.domain
        )
        texts = [text for text, _ in load_examples(DEFAULT_HOLDOUT)][:LONG] + LATE
        return await conversations(agent, texts, turns=len(texts))

    out["long_conversation"] = asyncio.run(converse_long())
    if not served:
        print("RESULT " + json.dumps(out, default=str))
        sys.exit(0)
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator
    batches = []
    prepare = RasaBatchDataGenerator.prepare_batch
    RasaBatchDataGenerator.prepare_batch = staticmethod(
        lambda *a, **k: batches.append(1) or prepare(*a, **k)
    )
    asyncio.run(talking_agent.parse_message("how long is the recovery after the surgery"))
    RasaBatchDataGenerator.prepare_batch = staticmethod(prepare)
    out["batches_per_parse"] = len(batches)
    import copy
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.slots import Slot, TextSlot
    slots = Domain.load("domain.yml").slots
    for slot in slots:
        slot.value = slot.initial_value if slot.initial_value is not None else "set"
    copies = [copy.copy(slot) for slot in slots]
    out["slot_copies"] = [
        [type(c) is type(s), c is not s, c.__dict__ == s.__dict__] for c, s in zip(copies, slots)
    ]
    out["slot_copies_direct"] = [fixes.plain_copy_safe(type(s), Slot.__copy__) for s in slots]
    class Hooked(TextSlot):
        def __getstate__(self):
            return {"name": self.name, "hooked": True}
        def __setstate__(self, state):
            self.__dict__.update(state)
    out["hooked_copy"] = copy.copy(Hooked("h", mappings=[{}])).__dict__
    from rasa.engine.runner.dask import DaskGraphRunner
    out["planned_runs"] = sum(
        len(o.__dict__.get("_spine_plans", {})) for o in gc.get_objects()
        if isinstance(o, DaskGraphRunner)
    )
    from spine_rasa.policies import IndexedRulePolicy
    out["rule_indexes"] = sum(
        len(o.__dict__.get("_spine_index") or {}) for o in gc.get_objects()
        if isinstance(o, IndexedRulePolicy)
    )
    from spine_rasa.components import LeanModel
    # kinds, not instances: the long conversation loaded the model a second time
    out["direct_models"] = sorted({
        type(o).__name__ for o in gc.get_objects()
        if isinstance(o, LeanModel) and o.__dict__.get("_spine_graph")
    })
    action = RemoteAction("action_show_specialists", None)
    out["valid_reply"] = action._validate_action_result(
        {"events": [{"event": "slot", "name": "doctor_id", "value": "x"}], "responses": []}
    )
    try:
        action._validate_action_result({"events": [{"event": "slot"}], "responses": "text"})
        out["invalid_reply"] = "accepted"
    except ValidationError as error:
        out["invalid_reply"] = error.message
    out["events"] = [
        Event.resolve_by_type("slot").__name__,
        Event.resolve_by_type("user").__name__,
        Event.resolve_by_type("slot").__name__,
        repr(Event.resolve_by_type("topic")),
        Event.resolve_by_type("no_such_event", SlotSet).__name__,
    ]
    try:
        Event.resolve_by_type("no_such_event")
        out["unknown"] = "resolved"
    except ValueError as error:
        out["unknown"] = str(error)
    import types
    from rasa.core import run as rasa_run
    from rasa.core.utils import AvailableEndpoints
    unfrozen = gc.get_freeze_count()
    app = types.SimpleNamespace(ctx=types.SimpleNamespace())
    async def start():
        loop = asyncio.get_running_loop()
        endpoints = AvailableEndpoints()
        return await rasa_run.load_agent_on_start(sys.argv[1], endpoints, None, app, loop)
    out["started"] = asyncio.run(start()) is app.ctx.agent and app.ctx.agent.is_ready()
    out["frozen"] = [unfrozen, gc.get_freeze_count()]
    print("RESULT " + json.dumps(out, default=str))
    """
)

SKIP_SCRIPT = textwrap.dedent(
    """
    import json, logging
    from spine_rasa import fixes
    fixes.before_import()
    warnings = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("spine_rasa.fixes").addHandler(handler)
    logging.getLogger("spine_rasa.fixes").setLevel(logging.INFO)
    applied = fixes.apply().applied
    from rasa.core import run as rasa_run
    from rasa.engine.runner.dask import DaskGraphRunner
    print("RESULT " + json.dumps({
        "applied": applied,
        "gc_freeze": fixes._installed(rasa_run, "load_agent_on_start"),
        "graph_runs": fixes._installed(DaskGraphRunner, "run"),
        "log": warnings,
    }))
    """
)


@pytest.fixture(scope="module")
def both(model_path: Path) -> Dict[str, Dict[str, Any]]:
    """The served way and Rasa as shipped, in two processes at once (each mostly on one core)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        served = pool.submit(run_script, SCRIPT, str(model_path))
        as_shipped = pool.submit(run_script, SCRIPT, str(model_path), SPINE_RASA_FIXES="0")
        return {"fixed": served.result(), "shipped": as_shipped.result()}


@pytest.fixture(scope="module")
def fixed(both: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    return both["fixed"]


@pytest.fixture(scope="module")
def shipped(both: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    return both["shipped"]


def run_script(script: str, *args: str, **env: str) -> Dict[str, Any]:
    """Run ``script`` in a fresh Python process (Rasa fixed there, not here); its RESULT line."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0, done.stderr[-3000:]
    assert lines, done.stdout[-3000:]
    return dict(json.loads(lines[-1][len("RESULT ") :]))


def _essentials(parse: Dict[str, Any]) -> Dict[str, Any]:
    selector = (parse.get("response_selector") or {}).get("default") or {}
    return {
        "intent": parse["intent"]["name"],
        "confidence": round(parse["intent"]["confidence"], 5),
        "ranking": [(i["name"], round(i["confidence"], 5)) for i in parse["intent_ranking"]],
        "response": (selector.get("response") or {}).get("intent_response_key"),
        "response_confidence": round((selector.get("response") or {}).get("confidence", 0), 5),
        "entities": [(e["entity"], e["value"]) for e in parse.get("entities", [])],
    }


def test_fixed_serving_predicts_exactly_like_rasa_as_shipped(
    fixed: Dict[str, Any], shipped: Dict[str, Any]
) -> None:
    """Inference-only load, direct graph calls, one batch per message: the same parse for every
    held-out message."""
    assert fixed["failed"] == {}
    assert len(fixed["applied"]) >= 6
    assert shipped["applied"] == []
    assert fixed["direct_models"] == ["LeanDIET", "LeanDIET2BOW"]  # the two lean components
    texts = [text for text, _ in load_examples(DEFAULT_HOLDOUT)]
    assert len(fixed["parses"]) == len(texts) >= 300
    theirs: List[Dict[str, Any]] = [_essentials(p) for p in shipped["parses"]]
    assert [_essentials(p) for p in fixed["parses"]] == theirs


def test_fixed_serving_converses_exactly_like_rasa_as_shipped(
    fixed: Dict[str, Any], shipped: Dict[str, Any]
) -> None:
    """Graph runs in the recorded order, the indexed rule search (and every other fix): the same
    events — actions with their policies and confidences, replies, slots — in conversations of
    four held-out messages."""
    assert fixed["planned_runs"] >= 2  # the parse and the action prediction took the fast path
    assert fixed["rule_indexes"] >= 1  # the rules were looked up by their index
    texts = [text for text, _ in load_examples(DEFAULT_HOLDOUT)]
    theirs = shipped["conversations"]
    assert len(theirs) == len(fixed["conversations"]) >= 75
    assert sum(len(events) for events in theirs) > 4 * len(texts)
    for mine, their in zip(fixed["conversations"], theirs, strict=True):
        assert mine == their


def test_a_long_conversation_goes_exactly_as_in_rasa_as_shipped(
    fixed: Dict[str, Any], shipped: Dict[str, Any]
) -> None:
    """One sender, 90 held-out messages and four turns that answer the previous reply, through
    the project's tracker store: the remembering tracker, its copies and the policies' last
    states against Rasa's own trackers and search."""
    [mine], [theirs] = fixed["long_conversation"], shipped["long_conversation"]
    assert len([e for e in theirs if e[0] == "user"]) == 94
    # the late turns were answered by rules that look back three states
    assert [e[1] for e in theirs if e[0] == "action"].count("utter_triage_what_next") == 2
    assert mine == theirs


def test_diet_and_the_selector_share_one_prediction_batch(fixed: Dict[str, Any]) -> None:
    """Rasa builds the same model data and batch twice per message (DIET, then the selector)."""
    assert fixed["batches_per_parse"] == 1


def test_slots_are_copied_as_copy_copy_copies_them(fixed: Dict[str, Any]) -> None:
    """Same class, a new object, the same attributes; a slot class with its own pickle hooks is
    copied through them (Rasa's way)."""
    assert len(fixed["slot_copies"]) > 10
    assert all(all(check) for check in fixed["slot_copies"])
    assert all(fixed["slot_copies_direct"])
    assert fixed["hooked_copy"] == {"name": "h", "hooked": True}


def test_action_replies_are_still_validated_with_rasas_message(fixed: Dict[str, Any]) -> None:
    assert fixed["valid_reply"] is True
    assert "Failed to validate Action server response" in fixed["invalid_reply"]


def test_event_classes_resolve_as_in_rasa(fixed: Dict[str, Any]) -> None:
    assert fixed["events"] == ["SlotSet", "UserUttered", "SlotSet", "None", "SlotSet"]
    assert "Unknown event name 'no_such_event'" in fixed["unknown"]


def test_the_loaded_model_is_frozen_for_the_garbage_collector(fixed: Dict[str, Any]) -> None:
    """Rasa's own start-up function still loads the agent; then the objects it left are frozen."""
    assert fixed["started"] is True
    before, after = fixed["frozen"]
    assert before == 0
    assert after > 100_000


def test_single_fixes_can_be_left_out_to_measure_them() -> None:
    result = run_script(SKIP_SCRIPT, SPINE_RASA_SKIP=" gc_freeze, no_such_fix")
    assert "graph_runs" in result["applied"]
    assert "gc_freeze" not in result["applied"]
    assert result["gc_freeze"] is False
    assert result["graph_runs"] is True
    assert "SPINE_RASA_SKIP: no fix named no_such_fix" in result["log"]
    assert any("left out: gc_freeze" in line for line in result["log"])


def test_jax_stays_out_of_the_server_process(fixed: Dict[str, Any]) -> None:
    assert fixed["jax"] == "None"  # marked absent, so TensorFlow's optional import skipped it


@pytest.mark.parametrize(
    ("left_dtype", "right_dtype", "index_dtype"),
    [
        ("float32", "float32", "int32"),
        ("float64", "float32", "int32"),
        ("int64", "float32", "int64"),
        ("float32", "float64", "int64"),
    ],
)
@pytest.mark.parametrize("density", [0.0, 0.002, 0.3])
def test_sparse_features_join_like_scipy_hstack(
    left_dtype: str, right_dtype: str, index_dtype: str, density: float
) -> None:
    import numpy as np
    import scipy.sparse

    from spine_rasa.fixes import join_coo

    rng = np.random.default_rng(7)
    left = scipy.sparse.random(9, 4000, density=density, format="coo", random_state=rng)
    right = scipy.sparse.random(9, 37, density=0.2, format="coo", random_state=rng)
    left = scipy.sparse.coo_matrix(
        (
            left.data.astype(left_dtype),
            (left.row.astype(index_dtype), left.col.astype(index_dtype)),
        ),
        shape=left.shape,
    )
    right.data = (right.data * 10).astype(right_dtype)
    expected = scipy.sparse.hstack([left, right])
    joined = join_coo(left, right)
    assert type(joined) is type(expected)
    assert joined.shape == expected.shape == (9, 4037)
    assert joined.dtype == expected.dtype
    assert joined.row.dtype == expected.row.dtype
    assert joined.col.dtype == expected.col.dtype
    for name in ("row", "col", "data"):  # same entries in the same order
        assert np.array_equal(getattr(joined, name), getattr(expected, name)), name
    assert (joined != expected).nnz == 0
