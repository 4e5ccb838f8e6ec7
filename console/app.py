"""The staff console's web layer (Sanic blueprint mounted by the website under /console).

Access: every route except the login page requires a session (server-side; the cookie holds a
random token, HttpOnly, SameSite=Strict, Secure over https). Every POST checks a CSRF token (the
session's, or a double-submit cookie on the login form). Failed logins are rate limited per client
address and per username. The routes live in console/pages/, one module per page; what they share
(database, accounts, templates, the login and admin checks) in console/web.py.
"""
from __future__ import annotations

from sanic import Blueprint

from console.pages import accounts, auth, conversations, metrics, patient_data, queues
from console.web import Console


def create_console(url: str | None = None) -> Blueprint:
    console = Blueprint("console", url_prefix="/console")
    web = Console(url)
    for page in (auth, conversations, queues, metrics, accounts, patient_data):
        page.register(console, web)
    return console
