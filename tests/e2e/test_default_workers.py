"""The default stack as `make run` starts it on a multi-core machine: two Rasa workers on one
SQLite database, sharing the conversation locks and the widget's once-only claims through the
machine's local SQLite file. Messages of one conversation that arrive at the same moment are each
answered and never processed at once (both workers serving), and a widget retry that reaches the
other worker gets the first answer instead of running the message again."""
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_events(stack: Stack, sender: str) -> List[Dict[str, Any]]:
    with sqlite3.connect(stack.db_path) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()
    return [json.loads(data) for (data,) in rows]


def say(stack: Stack, sender: str, message: str) -> List[Dict[str, Any]]:
    status, replies = http(
        "POST", f"{stack.base_url}/webhooks/rest/webhook", {"sender": sender, "message": message}
    )
    assert status == 200
    return replies


def test_simultaneous_messages_of_one_conversation_take_turns(two_workers: Stack) -> None:
    processes = rasa_processes(two_workers.rasa_port)
    assert len(processes) >= 3  # Sanic's main process + 2 workers
    before = {pid: cpu_seconds(pid) for pid in processes}
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
    # Other patients write at the same time, so that both workers are busy (their CPU time says
    # so) while this conversation's messages arrive: one worker alone could accept every request
    # of a single conversation, since they wait for its lock, not for the CPU.
    others = [(uuid.uuid4().hex, q) for q in questions for _ in range(3)]
    with ThreadPoolExecutor(12) as pool:
        background = pool.map(lambda job: say(two_workers, *job), others)
        with ThreadPoolExecutor(4) as mine:
            answers = list(mine.map(lambda q: say(two_workers, sender, q), questions))
        assert all(texts(replies) for replies in background)
    assert all(texts(replies) for replies in answers)
    busy = [pid for pid in processes if cpu_seconds(pid) - before[pid] > 0.2]
    assert len(busy) >= 2, busy  # both workers answered

    stored = stored_events(two_workers, sender)
    assert sorted(e["text"] for e in stored if e["event"] == "user") == sorted(["hi", *questions])
    # The lock: each message's turn ends (action_listen) before the next message is read.
    kinds = [(e["event"], e.get("name")) for e in stored if e["event"] in ("user", "action")]
    turns = [i for i, kind in enumerate(kinds) if kind[0] == "user"]
    for start, end in zip(turns, turns[1:] + [len(kinds)], strict=True):
        assert kinds[end - 1] == ("action", "action_listen"), kinds
        assert ("user", None) not in kinds[start + 1 : end]
    # ... and was read after the previous turn ended (a turn is saved at its end, so the order of
    # the rows alone would not show two turns running at once)
    ended = 0.0
    for event in stored:
        if event["event"] == "user":
            assert event["timestamp"] >= ended, event["text"]
        if event["event"] == "action" and event.get("name") == "action_listen":
            ended = event["timestamp"]


def test_a_widget_retry_on_the_other_worker_gets_the_first_answer(two_workers: Stack) -> None:
    sender, message_id = uuid.uuid4().hex, uuid.uuid4().hex
    body = {"sender": sender, "message": "which doctors are in kolkata", "message_id": message_id}
    url = f"{two_workers.base_url}/webhooks/webchat/webhook"
    with ThreadPoolExecutor(6) as pool:  # the same message six times at once, over both workers
        answers = list(pool.map(lambda _: http("POST", url, body), range(6)))
    assert all(status == 200 for status, _ in answers)
    assert all(replies == answers[0][1] and texts(replies) for _, replies in answers)
    users = [e for e in stored_events(two_workers, f"web:{sender}") if e["event"] == "user"]
    assert [e["text"] for e in users] == ["which doctors are in kolkata"]  # run once
