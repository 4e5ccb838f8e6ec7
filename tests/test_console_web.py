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
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore

from console.accounts import Accounts
from console.app import create_console
from console.indexer import conversation_key
from spine_db import migrate
from spine_db.store import BookingRequest, Store
from tests.console_client import PASSWORD, Client, csrf_of
from tests.servers import ROOT, website

PATIENT = "919876543210"  # a WhatsApp conversation id is the user's number
KEY = conversation_key(PATIENT)


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
                "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.4}},
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
    with engine.begin() as conn:
        for i, (kind, data) in enumerate(events):
            conn.execute(
                sa.text(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                    "VALUES (:s, :t, :ts, NULL, :d)"
                ),
                {
                    "s": PATIENT,
                    "t": kind,
                    "ts": 1795500000 + i,
                    "d": json.dumps({"event": kind, **data}),
                },
            )


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'spine.db'}"
    SQLTrackerStore(host=url)  # Rasa's events table, as the Rasa server creates it
    migrate.upgrade(url)
    seed_conversation(sa.create_engine(url, future=True))
    accounts = Accounts(sa.create_engine(url, future=True))
    accounts.add("agent1", PASSWORD, "agent")
    accounts.add("agent2", PASSWORD, "agent")
    accounts.add("admin1", PASSWORD, "admin")
    store = Store(url, reference=lambda prefix: f"{prefix}-7F3K2Q")
    store.save_booking(
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
    return url


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
    site: str,
) -> None:
    agent = Client(site)
    agent.login("agent1")
    status, _, listing = agent.request("GET", "/console/conversations?channel=whatsapp")
    assert status == 200
    assert "•••• ••10" in listing
    assert "9876543210" not in listing
    assert "booking" in listing
    status, _, html = agent.request("GET", f"/console/conversations/{KEY}")
    assert status == 200
    assert "book_appointment (0.97)" in html
    assert "Asha Verma" not in html
    assert "98765 43210" not in html
    assert "•••• ••10" in html
    assert (
        agent.request("POST", f"/console/conversations/{KEY}/reveal", {"csrf": csrf_of(html)})[0]
        == 403
    )
    admin = Client(site)
    admin.login("admin1")
    _, _, html = admin.request("GET", f"/console/conversations/{KEY}")
    status, _, revealed = admin.request(
        "POST", f"/console/conversations/{KEY}/reveal", {"csrf": csrf_of(html)}
    )
    assert status == 200
    assert "Asha Verma" in revealed
    assert "98765 43210" in revealed


def test_review_with_a_note_is_recorded(site: str) -> None:
    agent = Client(site)
    agent.login("agent1")
    _, _, html = agent.request("GET", f"/console/conversations/{KEY}")
    assert (
        agent.request(
            "POST", f"/console/conversations/{KEY}/review", {"csrf": "forged", "note": "x"}
        )[0]
        == 403
    )
    status, _, _ = agent.request(
        "POST",
        f"/console/conversations/{KEY}/review",
        {"csrf": csrf_of(html), "note": "Booking looked fine"},
    )
    assert status == 302
    _, _, html = agent.request("GET", f"/console/conversations/{KEY}")
    assert "Booking looked fine" in html
    _, _, listing = agent.request("GET", "/console/conversations?reviewed=yes")
    assert "•••• ••10" in listing


def test_audit_log_has_the_reveal_and_the_review(site: str, db_url: str) -> None:
    with sa.create_engine(db_url, future=True).connect() as conn:
        entries = conn.execute(sa.text("SELECT username, action, target FROM audit_log")).all()
    assert ("admin1", "reveal", f"conversation:{KEY}") in [tuple(e) for e in entries]
    assert ("agent1", "review", f"conversation:{KEY}") in [tuple(e) for e in entries]


def test_annotate_a_message_and_export_valid_rasa_nlu(
    site: str, db_url: str, tmp_path: Path
) -> None:
    agent = Client(site)
    agent.login("agent1")
    _, _, html = agent.request("GET", f"/console/conversations/{KEY}")
    event_ids = re.findall(r'name="event_id" value="(\d+)"', html)
    assert len(event_ids) == 3  # one form per user message
    # "my number is 98765 43210" was misread as nlu_fallback: label it with the right intent
    status, _, _ = agent.request(
        "POST",
        f"/console/conversations/{KEY}/annotate",
        {"csrf": csrf_of(html), "event_id": event_ids[2], "label": "request_callback"},
    )
    assert status == 302
    assert (
        agent.request(
            "POST",
            f"/console/conversations/{KEY}/annotate",
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
    assert "Show contact details" not in html  # not assigned to agent1 yet
    path = "/console/queues/bookings/BK-7F3K2Q"
    assert agent.request("POST", path + "/reveal", {"csrf": csrf_of(html)})[0] == 403
    form = {"csrf": csrf_of(html), "seen_status": "new", "status": "contacted"}
    form.update(assignee="agent1", notes="Called, will call again at 6")
    assert agent.request("POST", path, {**form, "csrf": "forged"})[0] == 403
    assert agent.request("POST", path, form)[0] == 302
    _, _, html = agent.request("GET", "/console/queues/bookings?assignee=agent1")
    assert "status-contacted" in html
    assert "Called, will call again at 6" in html
    assert "Show contact details" in html  # the assignee may call the patient
    status, _, revealed = agent.request("POST", path + "/reveal", {"csrf": csrf_of(html)})
    assert status == 200
    assert "Asha Verma" in revealed
    assert "+919876543210" in revealed
    # agent2's page still says "new": the stale change is refused, not applied
    other = Client(site)
    other.login("agent2")
    _, _, page = other.request("GET", "/console/queues/bookings")
    stale = {**form, "csrf": csrf_of(page), "assignee": "agent2"}  # as if loaded before agent1
    status, _, html = other.request("POST", path, stale)
    assert status == 409
    assert "changed meanwhile" in html
    assert other.request("POST", path + "/reveal", {"csrf": csrf_of(page)})[0] == 403
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
    assert entries == [
        ("agent1", "status", "booking:BK-7F3K2Q", "status new→contacted; assignee -→agent1; notes"),
        ("agent1", "reveal", "booking:BK-7F3K2Q", ""),
    ]


def test_unknown_queue_and_request(site: str) -> None:
    agent = Client(site)
    agent.login("agent1")
    assert agent.request("GET", "/console/queues/invoices")[0] == 404
    _, _, html = agent.request("GET", "/console/queues/callbacks")
    assert "No requests here." in html
    assert (
        agent.request("POST", "/console/queues/bookings/BK-NOPE22/reveal", {"csrf": csrf_of(html)})[
            0
        ]
        == 404
    )


def test_csv_export_is_masked_for_agents_and_unmasked_only_for_admins_with_audit(
    site: str, db_url: str
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
    assert record["conversation_key"] == KEY
    assert (record["booking"], record["channel"]) == ("1", "whatsapp")
    assert "9876543210" not in body
    assert list(
        csv.reader(io.StringIO(agent.request("GET", "/console/conversations.csv?channel=web")[2]))
    ) == [header]
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


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    from console.app import _csv_cell

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
