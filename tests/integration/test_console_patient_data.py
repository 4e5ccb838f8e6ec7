"""Patient data requests that arrive by phone or e-mail, handled in the console over real HTTP
(the website process) on a real database: find by mobile number, export, erase. Admin only,
audited without the data; afterwards no row of any table holds the patient."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from console.accounts import Accounts
from console.indexer import update_summaries
from devstack.servers import website
from spine_db.store import Store
from tests.integration.test_console_web import PATIENT, save_booking, seed_conversation
from tests.support.console_client import PASSWORD, Client, csrf_of
from tests.support.databases import project_database

OTHER = "web:0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('patient-data') / 'spine.db'}"
    engine = project_database(url)
    seed_conversation(engine)  # the patient's WhatsApp conversation (name, number, booking)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO events (sender_id, type_name, timestamp, data) "
                "VALUES (:s, 'user', 1795500100, :d)"
            ),
            {"s": OTHER, "d": json.dumps({"event": "user", "text": "how big is the cut"})},
        )
    update_summaries(engine)
    accounts = Accounts(engine)
    accounts.add("agent1", PASSWORD, "agent")
    accounts.add("admin1", PASSWORD, "admin")
    save_booking(Store(url))
    return url


@pytest.fixture(scope="module")
def site(db_url: str) -> Iterator[str]:
    with website(DATABASE_URL=db_url) as url:
        yield url


def everything(db_url: str) -> str:
    engine = sa.create_engine(db_url, future=True)
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in sa.inspect(engine).get_table_names()
            for row in conn.execute(sa.select(sa.text("*")).select_from(sa.table(table)))
        )


def test_only_admins_handle_patient_data(site: str) -> None:
    agent = Client(site)
    agent.login("agent1")
    assert agent.request("GET", "/console/patient-data")[0] == 403
    _, _, html = agent.request("GET", "/console/conversations")
    assert "Patient data" not in html
    refused = agent.request("POST", "/console/patient-data", {"csrf": csrf_of(html), "do": "find"})
    assert refused[0] == 403


def test_a_web_conversation_is_listed_by_its_key_never_its_sender_id(
    site: str, db_url: str
) -> None:
    from console.indexer import key_for_sender

    key = key_for_sender(sa.create_engine(db_url, future=True), OTHER)
    assert key
    admin = Client(site)
    admin.login("admin1")
    csrf = csrf_of(admin.request("GET", "/console/patient-data")[2])
    found = admin.request("POST", "/console/patient-data", {"csrf": csrf, "key": key})[2]
    assert f"conversation {key}" in found
    assert OTHER.removeprefix("web:") not in found  # a web id works as the patient's password


def test_find_export_then_erase_by_mobile_number(site: str, db_url: str, tmp_path: Path) -> None:
    admin = Client(site)
    admin.login("admin1")
    status, _, html = admin.request("GET", "/console/patient-data")
    assert status == 200
    csrf = csrf_of(html)
    # the number as the caller says it: with a 0 and spaces
    found = admin.request(
        "POST", "/console/patient-data", {"csrf": csrf, "mobile": "098765 43210", "do": "find"}
    )[2]
    assert "Found 1 conversation" in found
    assert "9876543210" not in found  # listed masked
    assert "(WhatsApp •••• ••10)" in found
    assert OTHER not in found
    status, headers, body = admin.request(
        "POST", "/console/patient-data", {"csrf": csrf, "mobile": "+91 98765 43210", "do": "export"}
    )
    assert status == 200
    assert "attachment" in headers["Content-Disposition"]
    [conversation] = json.loads(body)["conversations"]
    assert conversation["conversation"] == PATIENT
    assert any(m.get("text") == "Asha Verma" for m in conversation["messages"])
    assert conversation["requests"][0]["patient_name"] == "Asha Verma"

    unconfirmed = admin.request(
        "POST", "/console/patient-data", {"csrf": csrf, "mobile": "9876543210", "do": "erase"}
    )[2]
    assert "Tick the confirmation first" in unconfirmed
    assert PATIENT in everything(db_url)
    erased = admin.request(
        "POST",
        "/console/patient-data",
        {"csrf": csrf, "mobile": "9876543210", "do": "erase", "confirm": "yes"},
    )[2]
    assert "Erased 1 conversation" in erased
    stored = everything(db_url)
    for secret in (PATIENT, "Asha Verma", "9876543210", "98765 43210"):
        assert secret not in stored, secret
    assert OTHER in stored  # another patient's conversation is untouched
    with sa.create_engine(db_url, future=True).connect() as conn:
        audit = [tuple(r) for r in conn.execute(sa.text("SELECT action, target FROM audit_log"))]
    assert ("export", "patient data") in audit
    assert ("erasure", "console") in audit
