"""Staff account management in the console over real HTTP (the website process), and the login
limit behind a proxy: each client counted by its own address."""
from __future__ import annotations

from typing import Iterator

import pytest

from console.accounts import Accounts
from devstack.servers import website
from tests.support.console_client import PASSWORD, Client, csrf_of
from tests.support.databases import project_database


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('accounts') / 'spine.db'}"
    accounts = Accounts(project_database(url))
    for name, role in (("admin1", "admin"), ("agent1", "agent"), ("agent2", "agent")):
        accounts.add(name, PASSWORD, role)
    with website(DATABASE_URL=url, PROXIES_COUNT="1") as base:
        yield base


def change(admin: Client, username: str, do: str, password: str = "") -> str:
    csrf = csrf_of(admin.request("GET", "/console/accounts")[2])
    form = {"csrf": csrf, "username": username, "do": do, "password": password}
    return admin.request("POST", "/console/accounts", form)[2]


def test_an_admin_deactivates_an_agent_whose_session_ends_at_once(site: str) -> None:
    agent = Client(site, {"X-Forwarded-For": "203.0.113.10"})
    assert agent.login("agent1")[0] == 302  # logged in: on to the console
    assert agent.request("GET", "/console/conversations")[0] == 200
    assert agent.request("GET", "/console/accounts")[0] == 403  # agents manage nothing
    admin = Client(site, {"X-Forwarded-For": "203.0.113.11"})
    admin.login("admin1")
    assert "agent1: deactivated." in change(admin, "agent1", "deactivate")
    status, headers, _ = agent.request("GET", "/console/conversations")
    assert (status, headers["Location"]) == (302, "/console/login")  # the session ended
    assert agent.login("agent1")[0] == 401
    assert "agent1: reactivated." in change(admin, "agent1", "reactivate")
    assert "lock themselves out" in change(admin, "admin1", "deactivate")
    assert "at least 12" in change(admin, "agent1", "password", "short")
    assert "password reset" in change(admin, "agent1", "password", "a brand new passphrase")
    assert Client(site).login("agent1", "a brand new passphrase")[0] == 302


def test_behind_a_proxy_one_client_cannot_lock_out_the_others(site: str) -> None:
    attacker = Client(site, {"X-Forwarded-For": "198.51.100.66"})
    for _ in range(5):
        assert attacker.login("nobody", "wrong password!")[0] == 401
    assert attacker.login("agent2")[0] == 429  # this client is blocked ...
    colleague = Client(site, {"X-Forwarded-For": "198.51.100.7"})
    assert colleague.login("agent2")[0] == 302  # ... a colleague behind the same proxy is not
