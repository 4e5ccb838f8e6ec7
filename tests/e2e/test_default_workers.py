"""The default stack as `make run` starts it on a multi-core machine: two Rasa workers on one
SQLite database, sharing the conversation locks through the SQLite lock store. Messages of one
conversation that arrive at the same moment are each answered and never processed at once."""
from __future__ import annotations

import json
import os
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from devstack.servers import Stack, free_port, http, texts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_workers(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        tmp_path_factory.mktemp("two-workers"),
        free_port(),
        free_port(),
        extra_env={"SANIC_WORKERS": "2", "RASA_MODEL": str(model_path)},
        processes=("actions", "rasa"),
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def rasa_processes(port: int) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "spine_rasa run" in command and f"--port {port} " in command:
            found.append(int(entry.name))
    return found


def say(stack: Stack, sender: str, message: str) -> List[Dict[str, Any]]:
    status, replies = http(
        "POST", f"{stack.base_url}/webhooks/rest/webhook", {"sender": sender, "message": message}
    )
    assert status == 200
    return replies


def test_simultaneous_messages_of_one_conversation_take_turns(two_workers: Stack) -> None:
    assert len(rasa_processes(two_workers.rasa_port)) >= 3  # Sanic's main process + 2 workers
    sender = uuid.uuid4().hex
    say(two_workers, sender, "hi")
    questions = [
        "how big is the incision in keyhole surgery?",
        "is MISS safe for elderly people?",
        "how long will i stay in hospital",
        "can i walk after the surgery",
        "which doctors are in kolkata",
        "what are the risks of the surgery",
    ] * 2
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda q: say(two_workers, sender, q), questions))
    assert all(texts(replies) for replies in answers)

    with sqlite3.connect(two_workers.db_path) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()
    stored = [json.loads(data) for (data,) in rows]
    assert sorted(e["text"] for e in stored if e["event"] == "user") == sorted(["hi", *questions])
    # The lock: each message's turn ends (action_listen) before the next message is read.
    kinds = [(e["event"], e.get("name")) for e in stored if e["event"] in ("user", "action")]
    turns = [i for i, kind in enumerate(kinds) if kind[0] == "user"]
    for start, end in zip(turns, turns[1:] + [len(kinds)], strict=True):
        assert kinds[end - 1] == ("action", "action_listen"), kinds
        assert ("user", None) not in kinds[start + 1 : end]
    assert os.path.exists(two_workers.workdir / "locks.db")
