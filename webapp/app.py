"""The website: the demo page (the source article with the chat widget) and the widget's files.

Run with ``python -m webapp`` (``make run`` starts it on port 8000).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from spine_content.privacy_notice import page, version
from spine_content.specialists_directory import card_payload, load_directory
from webapp.article import article

ROOT = Path(__file__).resolve().parent.parent
WIDGET_DIR = ROOT / "widget"
TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class WebSettings:
    rasa_url: str  # where browsers reach the Rasa server (the widget's data-server)

    @classmethod
    def from_env(cls) -> WebSettings:
        port = os.environ.get("RASA_PORT", "5005")
        return cls(os.environ.get("RASA_PUBLIC_URL", f"http://localhost:{port}").rstrip("/"))


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


WEB_MAX_BODY = 64 * 1024


def create_app(settings: WebSettings | None = None, name: str = "spine_web") -> Sanic:
    settings = settings or WebSettings.from_env()
    app = Sanic(name)
    # Pages and the console's forms (log-in, notes, annotations) are small; Sanic's default
    # limit is 100 MB. Larger bodies get 413 before they are read.
    app.config.REQUEST_MAX_SIZE = WEB_MAX_BODY
    # Behind an ingress or proxy, PROXIES_COUNT=1 (or more) makes the client's own address (from
    # X-Forwarded-For) the one the console's login limit counts: else every client would share
    # the proxy's address and one attacker could lock all staff out.
    app.config.PROXIES_COUNT = int(os.environ.get("PROXIES_COUNT", "0") or 0)
    templates = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )

    @app.get("/")
    async def demo(_: Request) -> HTTPResponse:
        html = templates.get_template("demo.html").render(
            blocks=article(),
            specialists=[card_payload(s) for s in load_directory().specialists],
            rasa_url=settings.rasa_url,
        )
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {settings.rasa_url}; frame-ancestors 'self'"
        )
        return response.html(html, headers={"Content-Security-Policy": csp})

    @app.get("/privacy")
    async def privacy(_: Request) -> HTTPResponse:
        # what the chat's notice links to (PRIVACY_URL): what is stored, why, how long, choices
        html = templates.get_template("privacy.html").render(sections=page(), version=version())
        csp = "default-src 'self'; style-src 'self'; frame-ancestors 'self'"
        return response.html(html, headers={"Content-Security-Policy": csp})

    @app.get("/healthz")
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    from console.app import create_console

    app.blueprint(create_console())
    app.static("/widget", str(WIDGET_DIR), name="widget")
    app.static("/static", str(Path(__file__).resolve().parent / "static"), name="static")

    @app.middleware("response")
    async def security_headers(_: Request, resp: HTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(header, value)

    return app
