"""The console's access layer over real HTTP (the website process): login required on every
route, CSRF on every POST, rate-limited logins, session cookie flags."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore

from console.accounts import Accounts
from console.app import create_console
from console.indexer import key_for_sender, update_summaries
from devstack.servers import ROOT, website
from spine_db import migrate
from spine_db.store import BookingRequest, Store
from tests.support.console_client import PASSWORD, Client, csrf_of

PATIENT = "919876543210"  # a WhatsApp conversation id is the user's number
REPLAYED = "web-replayed-request"


def seed_conversation(engine: sa.engine.Engine) -> None:
    events: List[Tuple[str, Dict[str, Any]]] = [
        (
            "user",
            {
                "text": "book with dr bhati",
                "input_channel": "whatsapp",
                "parse_data": {
                    "intent": {"name": "book_appointment", "confidence": 0.97},
                    "entities": [],
                },
            },
        ),
        ("action", {"name": "booking_form"}),
        ("bot", {"text": "What is the patient's full name?"}),
        (
            "user",
            {
                "text": "Asha Verma",
                # typed while the form asked for the name (spine_nlu.form_answers)
                "parse_data": {
                    "intent": {"name": "nlu_fallback", "confidence": 0.4},
                    "form_answer": {"form": "booking_form", "slot": "patient_name"},
                },
            },
        ),
        ("slot", {"name": "patient_name", "value": "Asha Verma"}),
        (
            "user",
            {
                "text": "my number is 98765 43210",
                "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}},
            },
        ),
        ("slot", {"name": "mobile", "value": "+919876543210"}),
        ("slot", {"name": "booking_reference", "value": "BK-7F3K2Q"}),
    ]
    insert_events(engine, PATIENT, events)


def seed_replayed_request(engine: sa.engine.Engine) -> None:
    """A request held back by the crisis check and carried out after "no" (actions/triage.py)."""
    text = "please delete everything i told you"
    insert_events(
        engine,
        REPLAYED,
        [
            ("user", {"text": text, "parse_data": {"intent": {"name": "crisis_check"}}}),
            ("action", {"name": "utter_crisis_check"}),
            ("user", {"text": "no", "parse_data": {"intent": {"name": "deny"}}}),
            ("action", {"name": "action_answer_after_triage"}),
            (
                "user",
                {
                    "text": text,
                    "parse_data": {
                        "intent": {"name": "delete_my_data", "confidence": 0.81},
                        "replay_of": "crisis_check",
                    },
                },
            ),
        ],
    )


def insert_events(
    engine: sa.engine.Engine, sender: str, events: List[Tuple[str, Dict[str, Any]]]
) -> None:
    """Events as Rasa's SQL tracker store writes them."""
    with engine.begin() as conn:
        for i, (kind, data) in enumerate(events):
            conn.execute(
                sa.text(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                    "VALUES (:s, :t, :ts, NULL, :d)"
                ),
                {
                    "s": sender,
                    "t": kind,
                    "ts": 1795500000 + i,
                    "d": json.dumps({"event": kind, **data}),
                },
            )


def save_booking(store: Store) -> str:
    """The seeded patient's booking (name and number as a patient gave them)."""
    return store.save_booking(
        BookingRequest(
            PATIENT,
            "whatsapp",
            "sunit-mediratta",
            "Dr. Sunit Mediratta",
            "online",
            date(2026, 12, 5),
            "morning",
            "Asha Verma",
            "+919876543210",
            True,
        )
    )


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'spine.db'}"
    SQLTrackerStore(host=url)  # Rasa's events table, as the Rasa server creates it
    migrate.upgrade(url)
    seed_conversation(sa.create_engine(url, future=True))
    seed_replayed_request(sa.create_engine(url, future=True))
    accounts = Accounts(sa.create_engine(url, future=True))
    accounts.add("agent1", PASSWORD, "agent")
    accounts.add("agent2", PASSWORD, "agent")
    accounts.add("admin1", PASSWORD, "admin")
    save_booking(Store(url, reference=lambda prefix: f"{prefix}-7F3K2Q"))
    return url


@pytest.fixture(scope="module")
def key(db_url: str) -> str:
    """The console's (random) key for the seeded conversation."""
    engine = sa.create_engine(db_url, future=True)
    update_summaries(engine)
    found = key_for_sender(engine, PATIENT)
    assert found
    assert PATIENT not in found
    return found


@pytest.fixture(scope="module")
def site(db_url: str) -> Iterator[str]:
    with website(DATABASE_URL=db_url) as url:
        yield url


def console_routes() -> list:
    blueprint = create_console("sqlite://")
    return sorted(
        {
            (route.uri, method)
            for route in blueprint._future_routes
            for method in (route.methods or ())
        }
    )


@pytest.mark.parametrize(("uri", "method"), console_routes())
def test_every_console_route_requires_login(site: str, uri: str, method: str) -> None:
    if uri == "/login":
        return  # the only public page
    path = "/console" + uri.replace("<key>", "0123456789abcdef01234567").replace(
        "<kind>", "bookings"
    ).replace("<reference>", "BK-7F3K2Q")
    status, headers, _ = Client(site).request(method, path, {} if method == "POST" else None)
    assert status == 302
    assert headers["Location"] == "/console/login"


def test_login_sets_a_safe_session_cookie_and_opens_the_console(site: str) -> None:
    client = Client(site)
    status, headers, _ = client.login("agent1")
    assert status == 302
    cookie = headers["Set-Cookie"]
    assert "spine_console=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert client.request("GET", "/console/")[0] == 302  # → the conversation list
    status, _, html = client.request("GET", "/console/conversations")
    assert status == 200
    assert "agent1 (agent)" in html
    assert "<h1>Conversations" in html


def test_wrong_password_is_refused(site: str) -> None:
    status, _, html = Client(site).login("agent1", "not the password")
    assert status == 401
    assert "Wrong username or password." in html


def test_csrf_is_required_on_login_and_logout(site: str) -> None:
    client = Client(site)
    client.login_csrf()
    status, _, _ = client.request(
        "POST", "/console/login", {"csrf": "forged", "username": "agent1", "password": PASSWORD}
    )
    assert status == 403
    client.login("agent1")
    assert client.request("POST", "/console/logout", {"csrf": "forged"})[0] == 403
    assert client.request("GET", "/console/conversations")[0] == 200  # still logged in
    _, _, html = client.request("GET", "/console/conversations")
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert client.request("POST", "/console/logout", {"csrf": token})[0] == 302
    assert client.request("GET", "/console/conversations")[0] == 302


def test_transcript_is_masked_for_agents_and_revealed_to_admins_with_an_audit_entry(
    key: str,
    site: str,
) -> None:
    agent = Client(site)
    agent.login("agent1")
    status, _, listing = agent.request("GET", "/console/conversations?channel=whatsapp")
    assert status == 200
    assert "•••• ••10" in listing
    assert "9876543210" not in listing
    assert "booking" in listing
    status, _, html = agent.request("GET", f"/console/conversations/{key}")
    assert status == 200
    assert "book_appointment (0.97)" in html
    assert "Asha Verma" not in html
    assert "98765 43210" not in html
    assert "•••• ••10" in html
    assert (
        agent.request("POST", f"/console/conversations/{key}/reveal", {"csrf": csrf_of(html)})[0]
        == 403
    )
    admin = Client(site)
    admin.login("admin1")
    _, _, html = admin.request("GET", f"/console/conversations/{key}")
    status, _, revealed = admin.request(
        "POST", f"/console/conversations/{key}/reveal", {"csrf": csrf_of(html)}
    )
    assert status == 200
    assert "Asha Verma" in revealed
    assert "98765 43210" in revealed


def test_review_with_a_note_is_recorded(key: str, site: str) -> None:
    agent = Client(site)
    agent.login("agent1")
    _, _, html = agent.request("GET", f"/console/conversations/{key}")
    assert (
        agent.request(
            "POST", f"/console/conversations/{key}/review", {"csrf": "forged", "note": "x"}
        )[0]
        == 403
    )
    status, _, _ = agent.request(
        "POST",
        f"/console/conversations/{key}/review",
        {"csrf": csrf_of(html), "note": "Booking looked fine"},
    )
    assert status == 302
    _, _, html = agent.request("GET", f"/console/conversations/{key}")
    assert "Booking looked fine" in html
    _, _, listing = agent.request("GET", "/console/conversations?reviewed=yes")
    assert "•••• ••10" in listing


def test_audit_log_has_the_reveal_and_the_review(key: str, site: str, db_url: str) -> None:
    with sa.create_engine(db_url, future=True).connect() as conn:
        entries = conn.execute(sa.text("SELECT username, action, target FROM audit_log")).all()
    assert ("admin1", "reveal", f"conversation:{key}") in [tuple(e) for e in entries]
    assert ("agent1", "review", f"conversation:{key}") in [tuple(e) for e in entries]


def test_annotate_a_message_and_export_valid_rasa_nlu(
    key: str, site: str, db_url: str, tmp_path: Path
) -> None:
    agent = Client(site)
    agent.login("agent1")
    _, _, html = agent.request("GET", f"/console/conversations/{key}")
    event_ids = re.findall(r'name="event_id" value="(\d+)"', html)
    # one form per user message, none for the name typed into the booking form: it answered
    # the form, it was not misunderstood
    assert len(event_ids) == 2
    assert "form answer (patient name)" in html
    # nothing is preselected: a default label would be saved unread
    assert html.count('<option value="" selected>') == 2
    # "my number is 98765 43210" was misread as nlu_fallback: label it with the right intent
    status, _, _ = agent.request(
        "POST",
        f"/console/conversations/{key}/annotate",
        {"csrf": csrf_of(html), "event_id": event_ids[1], "label": "request_callback"},
    )
    assert status == 302
    assert (
        agent.request(
            "POST",
            f"/console/conversations/{key}/annotate",
            {"csrf": csrf_of(html), "event_id": event_ids[0], "label": "not_a_label"},
        )[0]
        == 400
    )
    status, headers, exported = agent.request("GET", "/console/annotations.yml")
    assert status == 200
    assert "attachment" in headers["Content-Disposition"]
    assert "- intent: request_callback" in exported
    assert "98765 43210" not in exported  # numbers are masked in training data too

    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().reads(exported)
    assert [m.get("intent") for m in data.training_examples] == ["request_callback"]

    # `rasa data validate` accepts it merged into the project's data/
    merged = tmp_path / "data"
    shutil.copytree(ROOT / "data", merged)
    (merged / "nlu" / "annotations.yml").write_text(exported, encoding="utf-8")
    result = subprocess.run(  # noqa: S603
        [
            str(Path(sys.executable).parent / "rasa"),
            "data",
            "validate",
            "--data",
            str(merged),
            "--domain",
            str(ROOT / "domain.yml"),
            "--config",
            str(ROOT / "config.yml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with sa.create_engine(db_url, future=True).connect() as conn:
        actions = [r[0] for r in conn.execute(sa.text("SELECT action FROM audit_log"))]
    assert "export" in actions


def test_a_replayed_request_is_shown_as_such_and_annotated_once(db_url: str, site: str) -> None:
    engine = sa.create_engine(db_url, future=True)
    update_summaries(engine)
    key = key_for_sender(engine, REPLAYED)
    agent = Client(site)
    agent.login("agent1")
    _, _, html = agent.request("GET", f"/console/conversations/{key}")
    assert (
        'the same message, carried out as delete_my_data after "no" to the crisis check'
    ) in unescape(html)
    # the first row and "no" can be annotated; the replay is the same message again
    assert len(re.findall(r'name="event_id" value="(\d+)"', html)) == 2


def test_booking_queue_masks_contacts_and_moves_through_the_lifecycle_with_audit(
    site: str, db_url: str
) -> None:
    agent = Client(site)
    agent.login("agent1")
    status, headers, html = agent.request("GET", "/console/queues/bookings")
    assert status == 200
    assert "Content-Security-Policy" in headers
    assert "BK-7F3K2Q" in html
    assert "Dr. Sunit Mediratta" in html
    assert "Asha Verma" not in html
    assert "98765" not in html
    assert "•••• ••10" in html
    assert "Show contact details" not in html  # agents never see them
    path = "/console/queues/bookings/BK-7F3K2Q"
    assert agent.request("POST", path + "/reveal", {"csrf": csrf_of(html)})[0] == 403
    form = {"csrf": csrf_of(html), "seen_version": "0", "status": "contacted"}
    form.update(assignee="agent1", add_note="Called Asha Verma on 98765 43210, no answer")
    assert agent.request("POST", path, {**form, "csrf": "forged"})[0] == 403
    assert agent.request("POST", path, form)[0] == 302
    _, _, html = agent.request("GET", "/console/queues/bookings?assignee=agent1")
    assert "status-contacted" in html
    assert "agent1: Called [name] on •••• ••10, no answer" in html  # the note, masked
    assert "Asha" not in html
    assert 'name="notes"' not in html  # notes are added, a masked page cannot rewrite them
    assert agent.request("POST", path + "/reveal", {"csrf": csrf_of(html)})[0] == 403

    # agent2 loaded the page before agent1's change (version 0): nothing of theirs is applied,
    # even though they keep the same status
    other = Client(site)
    other.login("agent2")
    _, _, page = other.request("GET", "/console/queues/bookings")
    stale = {**form, "csrf": csrf_of(page), "status": "contacted", "assignee": "agent2"}
    status, _, html = other.request("POST", path, {**stale, "seen_version": "0"})
    assert status == 409
    assert "changed meanwhile" in html
    assert "assigned to agent1" in html

    admin = Client(site)
    admin.login("admin1")
    _, _, page = admin.request("GET", "/console/queues/bookings")
    assert "Show contact details" in page
    status, _, revealed = admin.request("POST", path + "/reveal", {"csrf": csrf_of(page)})
    assert status == 200
    assert "Asha Verma" in revealed
    assert "+919876543210" in revealed
    assert "Called Asha Verma on 98765 43210" in revealed
    with sa.create_engine(db_url, future=True).connect() as conn:
        entries = [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT username, action, target, detail FROM audit_log "
                    "WHERE target LIKE 'booking:%'"
                )
            )
        ]
        stored = conn.execute(sa.text("SELECT notes, version FROM bookings")).one()
    assert entries == [
        (
            "agent1",
            "status",
            "booking:BK-7F3K2Q",
            "status new→contacted; assignee -→agent1; note added",
        ),
        ("admin1", "reveal", "booking:BK-7F3K2Q", ""),
    ]
    assert stored[0].endswith("agent1: Called Asha Verma on 98765 43210, no answer")
    assert stored[1] == 1


def test_revealing_a_closed_request_shows_that_request(site: str, db_url: str) -> None:
    with sa.create_engine(db_url, future=True).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO callbacks (reference, conversation_id, channel, patient_name, mobile,"
                " contact_consent, status, created_at, version) VALUES ('CB-DONE22', 'x', 'rest',"
                " 'Ravi Kumar', '+919812345678', 1, 'done', '2026-11-01 10:00:00', 3)"
            )
        )
    admin = Client(site)
    admin.login("admin1")
    _, _, page = admin.request("GET", "/console/queues/callbacks")
    assert "CB-DONE22" not in page  # open requests only
    status, _, revealed = admin.request(
        "POST", "/console/queues/callbacks/CB-DONE22/reveal", {"csrf": csrf_of(page)}
    )
    assert status == 200
    assert "CB-DONE22" in revealed
    assert "Ravi Kumar" in revealed


def test_unknown_queue_and_request(site: str) -> None:
    admin = Client(site)
    admin.login("admin1")
    assert admin.request("GET", "/console/queues/invoices")[0] == 404
    _, _, html = admin.request("GET", "/console/queues/callbacks?status=new")
    assert "No requests here." in html
    path = "/console/queues/bookings/BK-NOPE22"
    assert admin.request("POST", path + "/reveal", {"csrf": csrf_of(html)})[0] == 404
    status, _, page = admin.request(
        "POST", path, {"csrf": csrf_of(html), "seen_version": "x²", "status": "done"}
    )
    assert status == 409
    assert "No such request." in page
    assert admin.request("GET", "/console/conversations?page=%C2%B2")[0] == 200  # "²", not a 500


def test_csv_export_is_masked_for_agents_and_unmasked_only_for_admins_with_audit(
    key: str, site: str, db_url: str
) -> None:
    import csv
    import io

    agent = Client(site)
    agent.login("agent1")
    status, headers, body = agent.request("GET", "/console/conversations.csv?channel=whatsapp")
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    [header, row] = list(csv.reader(io.StringIO(body)))
    record = dict(zip(header, row, strict=True))
    assert record["conversation"] == "•••• ••10"
    assert record["conversation_key"] == key
    assert (record["booking"], record["channel"]) == ("1", "whatsapp")
    assert "9876543210" not in body
    assert record["note"] == "(hidden: may name the patient)"  # the review note of an earlier test
    assert "Booking looked fine" not in body
    empty = agent.request("GET", "/console/conversations.csv?channel=web&q=98765")[2]
    assert list(csv.reader(io.StringIO(empty))) == [header]
    _, _, html = agent.request("GET", "/console/conversations")
    assert "CSV with patient data" not in html
    refused = agent.request(
        "POST", "/console/conversations.csv", {"csrf": csrf_of(html), "reveal": "1"}
    )
    assert refused[0] == 403
    admin = Client(site)
    admin.login("admin1")
    _, _, html = admin.request("GET", "/console/conversations")
    assert "CSV with patient data" in html
    status, _, body = admin.request(
        "POST",
        "/console/conversations.csv",
        {"csrf": csrf_of(html), "reveal": "1", "channel": "whatsapp"},
    )
    assert status == 200
    assert PATIENT in body
    assert "Booking looked fine" in body  # the review note, unmasked for the admin only
    with sa.create_engine(db_url, future=True).connect() as conn:
        details = [
            tuple(r)
            for r in conn.execute(
                sa.text("SELECT username, detail FROM audit_log WHERE target = 'conversations.csv'")
            )
        ]
    assert [(u, d.split(";")[1].strip()) for u, d in details] == [
        ("agent1", "masked"),
        ("agent1", "masked"),
        ("admin1", "unmasked"),
    ]
    assert "98765" not in details[1][1]  # the search text is not in the audit log ...
    assert details[1][1].endswith("channel=web; text search")  # ... only that there was one


@pytest.mark.parametrize("query", ["98765", "9 8 7", "asha@example.com"])
def test_agents_cannot_search_for_masked_numbers_or_addresses(
    key: str, site: str, query: str
) -> None:
    """The seeded patient wrote "my number is 98765 43210": a search an agent could narrow digit
    by digit would reveal the number the console masks."""
    import urllib.parse

    agent = Client(site)
    agent.login("agent1")
    _, _, html = agent.request("GET", "/console/conversations?q=" + urllib.parse.quote(query))
    assert "the search was not run" in html
    assert key not in html
    admin = Client(site)
    admin.login("admin1")
    _, _, html = admin.request("GET", "/console/conversations?q=98765")
    assert key in html  # admins may search (each export is audited)
    _, _, html = agent.request("GET", "/console/conversations?q=number")
    assert key in html  # a word is still searched


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    from console.pages.conversations import _csv_cell

    assert _csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _csv_cell("+91 98") == "'+91 98"
    assert _csv_cell("ok") == "ok"


def test_metrics_page_has_numbers_and_svg_charts(site: str) -> None:
    agent = Client(site)
    agent.login("agent1")
    status, headers, html = agent.request("GET", "/console/metrics?days=90")
    assert status == 200
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert html.count("<svg") == 4
    assert '<dd id="m-bookings">1</dd>' in html  # the booking seeded for this module
    assert "<script" not in html
    assert agent.request("GET", "/console/metrics?days=abc")[0] == 200  # falls back to 30 days


# Last: it blocks this client address for the rest of the module.
def test_failed_logins_are_rate_limited(site: str) -> None:
    client = Client(site)
    for _ in range(5):
        assert client.login("admin1", "wrong password!")[0] == 401
    status, _, html = client.login("admin1")  # even the right password, for a while
    assert status == 429
    assert "Too many failed attempts" in html
