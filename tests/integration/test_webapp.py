"""The website process (webapp/): the demo page renders the source article from content/, serves
the widget's files with safe headers, and nothing outside its folders."""
from __future__ import annotations

import urllib.error
import urllib.request
from typing import Dict, Iterator, Tuple

import pytest

from devstack.servers import ROOT, post_sized, website
from webapp.app import WEB_MAX_BODY
from webapp.article import article

FORM = "application/x-www-form-urlencoded"

SOURCE = (ROOT / "content" / "source" / "miss_guide.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    with website(RASA_PUBLIC_URL="https://bot.example", RETENTION_CONVERSATION_DAYS="30") as url:
        yield url


def get(url: str) -> Tuple[int, Dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, ""


def test_article_blocks_come_from_the_source_page() -> None:
    blocks = article()
    assert blocks[0].kind == "h1"
    assert blocks[0].text.startswith("Guide to Minimally Invasive Spine Surgery")
    for block in blocks:
        for text in (block.text, *block.items):
            if block.kind != "specialists":
                assert text in SOURCE, text
    kinds = [b.kind for b in blocks]
    assert kinds.count("specialists") == 1  # the page repeats its cards; shown once
    assert [b.text for b in blocks if b.kind == "h3"][0].startswith("1. How long is the recovery")
    assert any(b.kind == "ol" and b.items[0].startswith("Anaesthesia") for b in blocks)
    assert "reviewerImg" not in {b.text for b in blocks}


def test_demo_page_renders_the_article_and_embeds_the_widget(web: str) -> None:
    status, headers, html = get(web + "/")
    assert status == 200
    assert "<h1>Guide to Minimally Invasive Spine Surgery" in html
    assert "Frequently Asked Questions" in html
    assert "Dr. Aditendraditya Singh Bhati" in html
    assert html.count('<li class="card">') == 5
    assert '<script src="/widget/widget.js" data-server="https://bot.example"' in html
    assert "connect-src 'self' https://bot.example" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_privacy_page_says_what_is_kept_and_for_how_long(web: str) -> None:
    status, headers, html = get(web + "/privacy")
    assert status == 200
    for heading in ("What we store", "Why", "Who sees it", "How long", "Your choices"):
        assert f"<h2>{heading}</h2>" in html
    # the windows as configured for this server (website() sets RETENTION_CONVERSATION_DAYS)
    assert "deleted 30 days after its last message" in html
    assert "deleted 365 days after it is closed" in html
    assert "delete my data" in html
    assert "Version 2026-12-06" in html
    assert "script-src" not in headers["content-security-policy"]  # no scripts at all


def test_page_text_is_escaped() -> None:
    # "&" in the title must reach the browser as an entity, not raw markup.
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from webapp.app import TEMPLATES

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )
    from webapp.article import Block

    html = env.get_template("demo.html").render(
        blocks=[Block("h1", "<script>alert(1)</script> & co")], specialists=[], rasa_url="x"
    )
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/widget/widget.js", "text/javascript"),
        ("/widget/widget.css", "text/css"),
        ("/static/site.css", "text/css"),
    ],
)
def test_widget_files_are_served(web: str, path: str, content_type: str) -> None:
    status, headers, body = get(web + path)
    assert status == 200
    assert headers["content-type"].startswith(content_type)
    assert headers["x-content-type-options"] == "nosniff"
    assert body.strip()


@pytest.mark.parametrize(
    "path",
    [
        "/widget/../webapp/app.py",
        "/widget/%2e%2e/webapp/app.py",
        "/widget/..%2fwebapp/app.py",
        "/static/../../content/specialists.yml",
        "/widget/missing.js",
    ],
)
def test_nothing_outside_the_static_folders_is_served(web: str, path: str) -> None:
    assert get(web + path)[0] == 404


def test_widget_never_uses_innerhtml() -> None:
    source = (ROOT / "widget" / "widget.js").read_text()
    assert "innerHTML" not in source.replace("never innerHTML", "")
    assert "insertAdjacentHTML" not in source
    assert "eval(" not in source


def test_oversized_bodies_are_refused_before_they_are_read(web: str) -> None:
    status, took = post_sized(f"{web}/console/login", 20 * 1024 * 1024, content_type=FORM)
    assert (status, took < 2) == (413, True)
    status, _ = post_sized(f"{web}/console/login", WEB_MAX_BODY + 1, b"x" * (WEB_MAX_BODY + 1))
    assert status == 413
    assert get(f"{web}/healthz")[0] == 200
