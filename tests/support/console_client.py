"""A browser-like HTTP client for the staff console: keeps cookies, does not follow redirects."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, Tuple

PASSWORD = "a long staff password"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


class Client:
    def __init__(self, base: str, headers: Dict[str, str] | None = None) -> None:
        self.base = base
        self.headers = headers or {}  # sent with every request (e.g. X-Forwarded-For)
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def request(
        self, method: str, path: str, form: Dict[str, str] | None = None
    ) -> Tuple[int, Dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers=self.headers
        )
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


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)
