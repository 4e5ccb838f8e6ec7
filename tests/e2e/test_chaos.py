"""No lost messages under faults: simulated patients on the widget and WhatsApp talk to two Rasa
replicas (own PostgreSQL and Redis on free ports, the project's action server, a fake Graph API)
while faults are injected on a fixed timeline: the action server hung, PostgreSQL stopped and
restarted (mid-booking for the widget patients), Redis stopped, the Graph API answering 500 and
429, and one replica killed. A ledger records every message; afterwards:

- every widget message got exactly one non-empty reply (an answer or "having trouble");
- every WhatsApp message was stored, answered and its replies delivered, none left pending;
- every message is stored at most once in the conversation, and each WhatsApp message once;
- bookings made equal bookings confirmed to patients, none twice.

The ledger's table is printed (pytest -s) and quoted in docs/operations.md.
"""
from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa

from devstack.servers import BOOKING_SCRIPT, ActionServer, Stack, free_port, http, texts
from spine_db import migrate
from tests.support.fake_graph import FakeGraph, delivery, signed_post, text_message, texts_of
from tests.support.services import OwnPostgres, OwnRedis, running

pytestmark = pytest.mark.e2e

SECRET = "app-secret-for-the-ledger"
TROUBLE = "having trouble"
FAILED_BOOKING = "could not"  # utter_booking_failed: "... could not be sent ..."
WEB_PATIENTS = 3
WHATSAPP_PATIENTS = 3
DEADLINE = 240.0  # seconds for all patients to finish
TRAFFIC = 46.0  # patients keep writing this long, past the last fault

BOOKING = [
    ("how big is the incision in MISS?", "less than one inch"),
    *BOOKING_SCRIPT,
    ("how long is the hospital stay?", "outpatient"),
]
EMERGENCY = "my legs went numb and I can't control my bladder"
QUESTIONS = [
    ("how big is the incision in MISS?", "less than one inch"),
    ("how long is the hospital stay?", "outpatient"),
    (EMERGENCY, "112"),
    ("will i need physio after miss", "physical therapy"),
]


@dataclass
class Entry:
    patient: str
    channel: str
    message_id: str
    text: str
    replies: int = 0  # widget: HTTP answers received for this id; WhatsApp: replies delivered
    empty: int = 0  # widget answers without any text
    trouble: bool = False
    refused: int = 0  # 503s / refused connections before it was taken
    reply: str = ""  # the start of the widget's answer, for the failure report


@dataclass
class Ledger:
    entries: List[Entry] = field(default_factory=list)
    confirmed: Dict[str, List[str]] = field(default_factory=dict)  # conversation -> BK refs
    stuck: List[str] = field(default_factory=list)
    restarts: int = 0  # booking forms started over because a fault lost their state
    until: float = 0.0  # when the patients stop writing (monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: Entry) -> Entry:
        with self.lock:
            self.entries.append(entry)
        return entry


@pytest.fixture(scope="module")
def world(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    postgres, redis = OwnPostgres(), OwnRedis()
    graph = FakeGraph().start()
    try:
        with running(postgres, redis):
            migrate.upgrade(postgres.url)
            workdir = tmp_path_factory.mktemp("chaos")
            actions = ActionServer(
                free_port(), workdir / "actions.log", env={"DATABASE_URL": postgres.url}
            )
            actions.start()
            endpoints = workdir / "endpoints.yml"
            endpoints.write_text(
                f'action_endpoint:\n  url: "http://127.0.0.1:{actions.port}/webhook"\n'
                "tracker_store:\n  type: spine_rasa.tracker_store.ProjectSQLTrackerStore\n"
                "lock_store:\n  type: spine_rasa.shared_stores.ProjectRedisLockStore\n"
            )
            env = {
                "REDIS_URL": redis.url,
                "REPLY_DEADLINE": "4",
                "ACTION_TIMEOUT": "2",
                "WHATSAPP_VERIFY_TOKEN": "verify",
                "WHATSAPP_APP_SECRET": SECRET,
                "WHATSAPP_ACCESS_TOKEN": "token",
                "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
                "WHATSAPP_GRAPH_URL": graph.url,
                "WHATSAPP_CLAIM_LEASE": "9",
            }
            replicas = [
                Stack(
                    workdir / name,
                    free_port(),
                    actions.port,
                    database_url=postgres.url,
                    extra_env=env,
                    processes=("rasa",),
                    endpoints=endpoints,
                )
                for name in ("a", "b")
            ]
            for replica in replicas:
                replica.workdir.mkdir()
                replica.start()
            try:
                yield {
                    "postgres": postgres,
                    "redis": redis,
                    "graph": graph,
                    "actions": actions,
                    "replicas": replicas,
                }
            finally:
                for replica in replicas:
                    replica.stop()
                actions.stop()
    finally:
        graph.stop()
        postgres.remove()


def alive(replicas: List[Stack]) -> List[Stack]:
    return [r for r in replicas if r.process is not None and r.process.poll() is None]


class WebPatient:
    """A widget user: retries a message on network errors (the same id, another server), sends
    it again when told to try again, and starts the booking over when its form was lost."""

    def __init__(self, ledger: Ledger, replicas: List[Stack]) -> None:
        self.ledger, self.replicas = ledger, replicas
        self.sender = uuid.uuid4().hex
        self.conversation = f"web:{self.sender}"
        self.turn = 0

    def send(self, text: str) -> str:
        entry = self.ledger.add(Entry(self.conversation, "widget", uuid.uuid4().hex, text))
        for attempt in range(40):
            servers = alive(self.replicas)
            server = servers[(self.turn + attempt) % len(servers)]
            try:
                status, body = http(
                    "POST",
                    f"{server.base_url}/webhooks/webchat/webhook",
                    {"sender": self.sender, "message": text, "message_id": entry.message_id},
                    timeout=30,
                )
            except (OSError, urllib.error.URLError):
                status, body = 0, None
            if status != 200:
                entry.refused += 1
                time.sleep(0.5)
                continue
            reply = texts(body)
            entry.replies += 1
            entry.reply = reply[:120]
            entry.empty += not reply.strip()
            entry.trouble = TROUBLE in reply
            self.turn += 1
            return reply
        return ""

    def step(self, text: str, expected: str, tries: int = 12) -> str | None:
        for _ in range(tries):
            reply = self.send(text)
            if expected.lower() in reply.lower():
                return reply
            time.sleep(1.5)
        return None

    def run(self) -> None:
        question, *booking, last = BOOKING
        if self.step(*question) is None:
            self.stuck(question[0])
            return
        for _ in range(4):  # a fault that loses the form's state: the patient books again
            reply = None
            for text, expected in booking:
                reply = self.step(text, expected)
                if reply is None:
                    break
            if reply is not None:
                with self.ledger.lock:
                    found = re.findall(r"BK-[A-Z2-9]{6}", reply)
                    self.ledger.confirmed.setdefault(self.conversation, []).extend(found)
                break
            with self.ledger.lock:
                self.ledger.restarts += 1
            self.send("cancel")
        else:
            self.stuck("the booking")
            return
        if self.step(*last) is None:
            self.stuck(last[0])
            return
        while time.monotonic() < self.ledger.until:  # questions while the faults go on
            time.sleep(0.5)  # reading the answer
            if self.step(*QUESTIONS[self.turn % len(QUESTIONS)]) is None:
                self.stuck("a question")
                return

    def stuck(self, what: str) -> None:
        answers = [e.reply for e in self.ledger.entries if e.patient == self.conversation][-4:]
        self.ledger.stuck.append(f"{self.conversation}: {what} -> {answers}")


def web_patient(ledger: Ledger, replicas: List[Stack], number: int) -> None:
    WebPatient(ledger, replicas).run()


def whatsapp_patient(ledger: Ledger, replicas: List[Stack], graph: FakeGraph, number: int) -> None:
    """Sends a question, waits for its answer; told to try again, sends it again (a new id)."""
    phone = f"9190000{number:05d}"
    index = 0
    while index < len(QUESTIONS) or time.monotonic() < ledger.until:
        text, expected = QUESTIONS[index % len(QUESTIONS)]
        for _ in range(12):
            index += 1
            entry = ledger.add(Entry(phone, "whatsapp", f"wamid.{phone}.{index}", text))
            before = _count(graph, phone, expected), _count(graph, phone, TROUBLE)
            _deliver(entry, replicas, delivery(text_message(phone, entry.message_id, text)))
            answer = _delivered(graph, phone, (expected, TROUBLE), before, timeout=90)
            entry.trouble = answer == TROUBLE
            if answer != TROUBLE:
                break
            time.sleep(1.5)  # told to try again: the patient waits a moment
        if answer != expected:
            ledger.stuck.append(f"{phone}: {text} -> {answer}")
            return


def _deliver(entry: Entry, replicas: List[Stack], payload: Dict[str, Any]) -> None:
    for attempt in range(200):  # Meta delivers again until it gets a 200
        servers = alive(replicas)
        url = f"{servers[attempt % len(servers)].base_url}/webhooks/whatsapp/webhook"
        try:
            if signed_post(url, payload, SECRET) == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        entry.refused += 1
        time.sleep(0.5)


def _count(graph: FakeGraph, phone: str, marker: str) -> int:
    return texts_of(graph.sent_to(phone)).lower().count(marker.lower())


def _delivered(
    graph: FakeGraph, phone: str, markers: Tuple[str, ...], before: Tuple[int, ...], timeout: float
) -> str | None:
    """The first of ``markers`` whose count went up, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for marker, seen in zip(markers, before, strict=True):
            if _count(graph, phone, marker) > seen:
                return marker
        time.sleep(0.2)
    return None


def timeline(world: Dict[str, Any], log: List[Tuple[float, str]], start: float) -> None:
    actions: ActionServer = world["actions"]
    postgres: OwnPostgres = world["postgres"]
    redis: OwnRedis = world["redis"]
    graph: FakeGraph = world["graph"]
    replicas: List[Stack] = world["replicas"]

    def at(second: float, what: str, do: Callable[[], None]) -> None:
        time.sleep(max(0.0, start + second - time.monotonic()))
        do()
        log.append((round(time.monotonic() - start, 1), what))

    at(3, "action server hung (SIGSTOP)", lambda: actions.signal(signal.SIGSTOP))
    at(8, "action server resumed", lambda: actions.signal(signal.SIGCONT))
    at(12, "PostgreSQL stopped", postgres.stop)
    at(18, "PostgreSQL started", postgres.start)
    at(24, "Redis stopped", redis.stop)
    at(29, "Redis started", redis.start)

    def graph_failing() -> None:
        graph.fail_next, graph.throttle_next, graph.retry_after = 6, 2, 2

    at(33, "Graph API: 6 x 500 then 2 x 429", graph_failing)

    def kill_b() -> None:
        replicas[1].kill()  # honcho and its servers, not honcho alone

    at(38, "replica b killed (SIGKILL)", kill_b)


def test_no_message_is_lost_under_faults(world: Dict[str, Any]) -> None:
    ledger = Ledger(until=time.monotonic() + TRAFFIC)
    replicas: List[Stack] = world["replicas"]
    graph: FakeGraph = world["graph"]
    faults: List[Tuple[float, str]] = []
    start = time.monotonic()
    threads = [
        threading.Thread(target=timeline, args=(world, faults, start), daemon=True),
        *(
            threading.Thread(target=web_patient, args=(ledger, replicas, n), daemon=True)
            for n in range(WEB_PATIENTS)
        ),
        *(
            threading.Thread(target=whatsapp_patient, args=(ledger, replicas, graph, n))
            for n in range(WHATSAPP_PATIENTS)
        ),
    ]
    # Patients start at staggered times so that each fault meets conversations in progress.
    for thread in threads:
        thread.start()
        time.sleep(1.0)
    for thread in threads:
        thread.join(timeout=max(1.0, start + DEADLINE - time.monotonic()))
    database = sa.create_engine(world["postgres"].url)
    try:
        outbox, inbox, stored, bookings = _settled(database)
        print("\n" + _table(ledger, faults, outbox, stored, bookings))
        if ledger.stuck:
            with database.connect() as conn:
                for row in conn.execute(
                    sa.text(
                        "SELECT i.message_id, i.status, i.attempts, o.status, o.attempts,"
                        " o.last_error, o.body FROM whatsapp_inbox i LEFT JOIN whatsapp_outbox o"
                        " ON o.delivery_id = i.id ORDER BY i.id"
                    )
                ):
                    print(tuple(str(v)[:60] for v in row))
    finally:
        database.dispose()
    assert not any(t.is_alive() for t in threads[1:]), "patients still waiting at the deadline"
    assert not ledger.stuck, ledger.stuck

    web = [e for e in ledger.entries if e.channel == "widget"]
    assert all(e.replies == 1 and e.empty == 0 for e in web), [
        e for e in web if e.replies != 1 or e.empty
    ]
    wa = [e for e in ledger.entries if e.channel == "whatsapp"]
    assert {e.message_id for e in wa} <= {k for k, v in inbox.items() if v == "done"}
    assert outbox.get("pending", 0) == 0, outbox
    assert outbox.get("failed", 0) == 0, outbox
    # Stored at most once; once for every message that was answered, except "try again" and the
    # urgent replies the guard sends without Rasa while a store is down.
    assert all(stored[e.message_id] <= 1 for e in web + wa), "a message stored twice"
    unstored = [
        (e.channel, e.text, e.reply[:60])
        for e in web + wa
        if not e.trouble and e.text != EMERGENCY and not stored[e.message_id]
    ]
    assert not unstored, unstored
    confirmed = Counter(r for refs in ledger.confirmed.values() for r in refs)
    assert len(ledger.confirmed) == WEB_PATIENTS
    assert sorted(bookings) == sorted(confirmed), (bookings, confirmed)
    assert all(n == 1 for n in Counter(bookings).values())


def _settled(
    database: sa.engine.Engine, timeout: float = 60
) -> Tuple[Counter, Dict[str, str], Counter, List[str]]:
    """The outbox by status (once nothing is pending), the inbox's statuses, how often each
    message id is stored as a user event, and the booking references."""
    deadline = time.monotonic() + timeout
    by_status = sa.text("SELECT status, count(*) FROM whatsapp_outbox GROUP BY status")
    statuses = sa.text("SELECT message_id, status FROM whatsapp_inbox")
    while True:
        with database.connect() as conn:
            outbox = Counter(dict(conn.execute(by_status).all()))
            inbox = dict(conn.execute(statuses).all())
        settled = not outbox.get("pending") and "pending" not in inbox.values()
        if settled or time.monotonic() > deadline:
            break
        time.sleep(1)
    with database.connect() as conn:
        stored: Counter = Counter()
        for (data,) in conn.execute(sa.text("SELECT data FROM events WHERE type_name = 'user'")):
            stored[json.loads(data).get("message_id")] += 1
        bookings = [r for (r,) in conn.execute(sa.text("SELECT reference FROM bookings"))]
    return outbox, inbox, stored, bookings


def _table(
    ledger: Ledger,
    faults: List[Tuple[float, str]],
    outbox: Counter,
    stored: Counter,
    bookings: List[str],
) -> str:
    web = [e for e in ledger.entries if e.channel == "widget"]
    wa = [e for e in ledger.entries if e.channel == "whatsapp"]
    web_stored = Counter(min(stored[e.message_id], 2) for e in web)
    rows = [
        ("faults (s after start)", "; ".join(f"{t:g} {what}" for t, what in faults)),
        ("widget messages sent", str(len(web))),
        ("  answered once, non-empty", str(sum(e.replies == 1 and not e.empty for e in web))),
        ("  of which 'having trouble'", str(sum(e.trouble for e in web))),
        ("  retried after a refused connection", str(sum(e.refused > 0 for e in web))),
        (
            "  urgent replies while a store was down",
            str(sum(e.text == EMERGENCY and not stored[e.message_id] for e in web + wa)),
        ),
        (
            "  stored once / not stored / twice",
            f"{web_stored[1]} / {web_stored[0]} / {web_stored[2]}",
        ),
        ("WhatsApp messages sent", str(len(wa))),
        ("  refused (503 / down) then redelivered", str(sum(e.refused > 0 for e in wa))),
        ("  stored once", str(sum(stored[e.message_id] == 1 for e in wa))),
        (
            "  replies sent / pending / failed",
            f"{outbox['sent']} / {outbox['pending']} / {outbox['failed']}",
        ),
        ("booking forms started over (state lost)", str(ledger.restarts)),
        (
            "bookings confirmed / stored",
            f"{sum(map(len, ledger.confirmed.values()))} / {len(bookings)}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"| {k.ljust(width)} | {v} |" for k, v in rows)
