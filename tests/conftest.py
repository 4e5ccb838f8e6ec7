"""Shared fixtures: Tracker, CollectingDispatcher and domain for actions; the trained model."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
import yaml
from cryptography.fernet import Fernet
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from tests.support.fake_graph import FakeGraph

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
# Every test and every server it starts stores names and numbers encrypted, as production does.
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
# In-process channels keep their once-only claims in this run's own file, never in var/ where
# an earlier run's replies (same sender and message id) could answer for this one.
os.environ.setdefault("SPINE_LOCK_DB", os.path.join(tempfile.mkdtemp(prefix="spine-"), "locks.db"))

ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = ROOT / "models" / "spine.tar.gz"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    """The domain as the action server receives it (domain.yml as a dict)."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


TrackerFactory = Callable[..., Tracker]


@pytest.fixture
def make_tracker() -> TrackerFactory:
    """Build a Tracker whose latest message carries the given parse data."""

    def _make(
        parse_data: Dict[str, Any] | None = None,
        slots: Dict[str, Any] | None = None,
        events: List[Dict[str, Any]] | None = None,
        sender_id: str = "test-user",
    ) -> Tracker:
        latest = {"text": "", "intent": {}, "entities": [], **(parse_data or {})}
        return Tracker(
            sender_id=sender_id,
            slots=slots or {},
            latest_message=latest,
            events=events or [],
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )

    return _make


@pytest.fixture(scope="session")
def model_path() -> Path:
    if not MODEL_PATH.exists():
        pytest.fail(f"{MODEL_PATH} is missing: run `make train` (make test does it for you).")
    return MODEL_PATH


@pytest.fixture(scope="session")
async def agent(model_path: Path) -> Any:
    """The trained model loaded once for NLU-level tests (no servers), as the server loads it
    (with the serving fixes)."""
    import logging

    from rasa.utils.log_utils import configure_structlog

    from spine_rasa import load_agent

    configure_structlog(logging.WARNING)
    return load_agent(str(model_path))


@pytest.fixture
def storage(tmp_path: Path) -> Any:
    """Rasa's local model storage, for training/persisting/loading a component."""
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    return LocalModelStorage(tmp_path)


@pytest.fixture
def context() -> Any:
    from rasa.engine.graph import ExecutionContext, GraphSchema

    return ExecutionContext(GraphSchema({}), "test")


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraph]:
    """A fake WhatsApp Graph API on loopback (tests/support/fake_graph.py), one per test module."""
    fake = FakeGraph().start()
    yield fake
    fake.stop()
