"""The console's access layer over real HTTP (the website process): login required on every
route, CSRF on every POST, rate-limited logins, session cookie flags."""
from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, Iterator, Tuple

import pytest
import sqlalchemy as sa

from console.accounts import Accounts
from console.app import create_console
from spine_db import migrate
from tests.servers import ROOT, free_port

PASSWORD = "a long staff password"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'spine.db'}"
    migrate.upgrade(url)
    accounts = Accounts(sa.create_engine(url, future=True))
    accounts.add("agent1", PASSWORD, "agent")
    accounts.add("admin1", PASSWORD, "admin")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WEB_PORT": str(port), "DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310
            break
        except OSError:
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def request(
        self, method: str, path: str, form: Dict[str, str] | None = None
    ) -> Tuple[int, Dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        try:
            with self.opener.open(req, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def login_csrf(self) -> str:
        _, _, html = self.request("GET", "/console/login")
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found
        return found.group(1)

    def login(self, username: str, password: str = PASSWORD) -> Tuple[int, Dict[str, str], str]:
        return self.request(
            "POST",
            "/console/login",
            {"csrf": self.login_csrf(), "username": username, "password": password},
        )


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
    status, headers, _ = Client(site).request(
        method, "/console" + uri, {} if method == "POST" else None
    )
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
    status, _, html = client.request("GET", "/console/")
    assert status == 200
    assert "Signed in as agent1 (agent)" in html


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
    assert client.request("GET", "/console/")[0] == 200  # still logged in
    _, _, html = client.request("GET", "/console/")
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert client.request("POST", "/console/logout", {"csrf": token})[0] == 302
    assert client.request("GET", "/console/")[0] == 302


def test_failed_logins_are_rate_limited(site: str) -> None:
    client = Client(site)
    for _ in range(5):
        assert client.login("admin1", "wrong password!")[0] == 401
    status, _, html = client.login("admin1")  # even the right password, for a while
    assert status == 429
    assert "Too many failed attempts" in html
