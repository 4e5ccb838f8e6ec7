"""What an agent can see or export of a patient: a seeded set of personal details written the
ways patients write them is absent from every console page, the CSV and the annotations YAML,
and a search for a hidden name says nothing."""
from __future__ import annotations

import re
import urllib.parse
from datetime import date
from pathlib import Path
from typing import Iterator, List

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore

from console.accounts import Accounts
from console.indexer import key_for_sender, update_summaries
from console.masking import mask_id, mask_text, names_in
from devstack.servers import website
from spine_db import migrate
from spine_db.store import BookingRequest, CallbackRequest, Store
from tests.integration.test_console_web import insert_events
from tests.support.console_client import PASSWORD, Client, csrf_of

SENDER = "web:5f0c3a9e2b7d41c8a6e9f0b1c2d3e4f5"  # a web id is the conversation's bearer token
MESSAGES = [
    "Hi, I am Ravi Shankar and my lower back hurts when I sit",
    "my father Ramesh Kumar had a discectomy, mera naam Ravi hai",
    "write to ravi.shankar@example.com or call 0 98111-22334",
    "whatsapp +91 98111 22334 pls",
]
# Written by the patient above; none may reach an agent.
PERSONAL = [
    "Ravi",
    "Shankar",
    "Ramesh",
    "Kumar",
    "ravi.shankar@example.com",
    "98111",
    "22334",
    "9811122334",
    SENDER,
    SENDER[4:],
]


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("hi I am Ravi Shankar from pune", ["Ravi", "Shankar"], ["pune"]),
        ("i am worried about my back", [], ["worried"]),
        ("I AM HAVING PAIN", [], ["HAVING"]),
        ("im rahul 32 yrs", ["rahul"], ["32"]),
        ("mera naam sunita devi hai", ["sunita", "devi"], ["hai"]),
        ("मेरा नाम आशा शर्मा है", ["आशा"], ["है"]),
        ("my mother's name is Kamla Devi", ["Kamla"], ["mother"]),
        ("myself deepak from kolkata", ["deepak"], ["kolkata"]),
        ("Regards, Anil Kapoor", ["Anil", "Kapoor"], ["Regards"]),
        ("mail me at a.b-c@mail.co.in", ["a.b-c@mail.co.in"], ["mail"]),
        ("call me on 0 98765-43210", ["98765", "43210"], ["call me on"]),
        ("+91 98765 43210", ["98765"], ["10"]),
        ("can Dr. Sunit Mediratta see me", [], ["Sunit Mediratta"]),  # public, on the cards
        ("i'm diabetic and 60", [], ["diabetic"]),
    ],
)
def test_free_text_masking(text: str, hidden: List[str], kept: List[str]) -> None:
    masked = mask_text(text)
    for secret in hidden:
        assert secret.casefold() not in masked.casefold(), masked
    for word in kept:
        assert word in masked, masked


def test_a_known_name_is_hidden_wherever_it_appears() -> None:
    assert mask_text("thanks, asha will call", {"Asha Verma", "Asha"}) == "thanks, [name] will call"
    assert names_in("I am Ravi") == {"Ravi"}


@pytest.mark.parametrize(
    ("sender", "shown"),
    [
        ("web:5f0c3a9e2b7d41c8a6e9f0b1c2d3e4f5", "web:…e4f5"),
        ("919876543210", "•••• ••10"),
        ("rest-tester", "…ster"),
    ],
)
def test_conversation_ids_are_never_shown_whole(sender: str, shown: str) -> None:
    assert mask_id(sender) == shown


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    url = f"sqlite:///{tmp_path_factory.mktemp('masking') / 'spine.db'}"
    SQLTrackerStore(host=url)
    migrate.upgrade(url)
    engine = sa.create_engine(url, future=True)
    events = [
        (
            "user",
            {
                "text": text,
                "input_channel": "webchat",
                "parse_data": {
                    "intent": {"name": "nlu_fallback", "confidence": 0.3},
                    "entities": [{"entity": "person", "value": "Ramesh Kumar"}],
                },
            },
        )
        for text in MESSAGES
    ] + [("bot", {"text": "Thank you, Ravi. Ramesh Kumar can ask the doctor."})]
    insert_events(engine, SENDER, events)
    Store(url).save_callback(
        CallbackRequest(
            SENDER, "webchat", "Ravi Shankar", "+919811122334", True, "requested by the user"
        )
    )
    Store(url).save_booking(
        BookingRequest(
            SENDER,
            "webchat",
            "sunit-mediratta",
            "Dr. Sunit Mediratta",
            "online",
            date(2026, 12, 5),
            "morning",
            "Ravi Shankar",
            "+919811122334",
            True,
        )
    )
    accounts = Accounts(engine)
    accounts.add("agent9", PASSWORD, "agent")
    accounts.add("admin9", PASSWORD, "admin")
    update_summaries(engine)
    key = key_for_sender(engine, SENDER)
    with website(DATABASE_URL=url) as site:
        yield site, key, url
    engine.dispose()


def _agent(site: str) -> Client:
    agent = Client(site)
    agent.login("agent9")
    return agent


def test_no_page_or_export_an_agent_sees_holds_the_patients_details(
    seeded: tuple, tmp_path: Path
) -> None:
    site, key, _ = seeded
    agent = _agent(site)
    _, _, page = agent.request("GET", f"/console/conversations/{key}")
    event_id = re.findall(r'name="event_id" value="(\d+)"', page)[0]
    assert (
        agent.request(
            "POST",
            f"/console/conversations/{key}/annotate",
            {"csrf": csrf_of(page), "event_id": event_id, "label": "request_callback"},
        )[0]
        == 302
    )
    admin = Client(site)
    admin.login("admin9")
    _, _, html = admin.request("GET", f"/console/conversations/{key}")
    note = "Called Ravi Shankar back on 98111 22334"
    assert (
        admin.request(
            "POST", f"/console/conversations/{key}/review", {"csrf": csrf_of(html), "note": note}
        )[0]
        == 302
    )
    seen = {
        path: agent.request("GET", path)[2]
        for path in (
            "/console/conversations",
            f"/console/conversations/{key}",
            "/console/conversations.csv",
            "/console/annotations.yml",
            "/console/queues/bookings",
            "/console/queues/callbacks",
        )
    }
    assert "lower back hurts" in seen[f"/console/conversations/{key}"]  # the page is there
    assert "- intent: request_callback" in seen["/console/annotations.yml"]
    for path, body in seen.items():
        for secret in PERSONAL:
            assert secret.casefold() not in body.casefold(), (path, secret)


def test_a_masked_note_is_kept_when_an_agent_marks_the_conversation_reviewed(
    seeded: tuple,
) -> None:
    site, key, url = seeded
    agent = _agent(site)
    _, _, html = agent.request("GET", f"/console/conversations/{key}")
    assert 'name="keep_note"' in html
    agent.request(
        "POST", f"/console/conversations/{key}/review", {"csrf": csrf_of(html), "keep_note": "1"}
    )
    with sa.create_engine(url, future=True).connect() as conn:
        note = conn.execute(sa.text("SELECT note FROM conversation_summaries")).scalar_one()
    assert note == "Called Ravi Shankar back on 98111 22334"


@pytest.mark.parametrize(("query", "found"), [("ravi", False), ("Kumar", False), ("back", True)])
def test_an_agents_search_finds_only_what_the_agent_can_see(
    seeded: tuple, query: str, found: bool
) -> None:
    site, key, _ = seeded
    html = _agent(site).request("GET", "/console/conversations?q=" + urllib.parse.quote(query))[2]
    assert (key in html) is found
    admin = Client(site)
    admin.login("admin9")
    assert key in admin.request("GET", "/console/conversations?q=" + query)[2]  # may reveal
