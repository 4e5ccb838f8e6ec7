"""The chat widget in a real browser (Playwright driving Debian's Chromium) against the real stack
(Procfile: action server, Rasa server, website). Screenshots go to artifacts/screenshots/."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest

from devstack.servers import ROOT, UNCLEAR_RED_FLAG, Stack, ask, chromium, free_port, open_chat

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("widget"), free_port(), free_port()).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(stack.web_url + "/")
    yield tab
    context.close()


def bot_text(page: Any) -> str:
    return " ".join(page.locator("#spine-care-widget .msg.bot").all_inner_texts())


def wait_for_bot(page: Any, fragment: str, timeout: float = 20000) -> None:
    page.locator("#spine-care-widget .msg.bot", has_text=fragment).last.wait_for(timeout=timeout)


def test_ask_a_question_and_use_a_quick_reply(page: Any) -> None:
    open_chat(page)
    ask(page, "how soon can I return to work after a discectomy?")
    wait_for_bot(page, "2-4 weeks")
    groups = page.locator("#spine-care-widget .quick-replies")
    # pinned by position: the bot's next answer adds a new group, and `.last` would move to it
    replies = groups.nth(groups.count() - 1).get_by_role("button")
    first = replies.first
    title = first.inner_text()
    first.click()
    assert page.locator("#spine-care-widget .msg.user", has_text=title).count() == 1
    assert first.is_disabled()  # quick replies are used once
    page.wait_for_function(
        "() => document.querySelector('#spine-care-widget').shadowRoot"
        ".querySelectorAll('.msg.bot').length >= 3"
    )


def test_delhi_neurosurgeons_show_three_cards_then_book_to_a_reference(page: Any) -> None:
    open_chat(page)
    ask(page, "show me neurosurgeons in Delhi")
    cards = page.locator("#spine-care-widget .card")
    cards.first.wait_for()
    assert cards.count() == 3
    first = cards.first
    assert first.locator(".avatar").inner_text() == "AS"
    assert "Dr. Aditendraditya Singh Bhati" in first.inner_text()
    assert "85% (100+ Patients)" in first.inner_text()
    assert "₹1,000 and ₹1,500" in first.inner_text()
    page.screenshot(path=str(SHOTS / "desktop-cards.png"))
    first.get_by_role("button", name=re.compile("Book online consultation")).click()
    wait_for_bot(page, "Which date would you prefer?")
    for answer, next_question in [
        ("tomorrow", "time of day"),
        ("morning", "full name"),
        ("Asha Verma", "mobile number"),
        ("98765 43210", "contact you"),
        ("yes", "Please check your request"),
    ]:
        ask(page, answer)
        wait_for_bot(page, next_question)
    ask(page, "yes")
    wait_for_bot(page, "Reference: BK-")
    reference = re.search(r"BK-[A-Z2-9]{6}", bot_text(page))
    assert reference
    page.screenshot(path=str(SHOTS / "desktop-booked.png"))

    page.reload()  # the transcript survives a reload (and the panel stays open)
    wait_for_bot(page, reference.group(0))
    assert page.locator("#spine-care-widget .card").count() == 3
    assert page.locator("#spine-care-widget .card").first.get_by_role("button").first.is_disabled()


def test_markup_is_shown_as_text_and_never_runs(page: Any) -> None:
    open_chat(page)
    attack = "<img src=x onerror=alert(1)>"
    ask(page, attack)
    page.locator("#spine-care-widget .msg.user", has_text=attack).wait_for()
    assert page.locator("#spine-care-widget .msg.user img").count() == 0
    page.wait_for_timeout(1500)
    assert page.dialogs == []


def test_keyboard_only(page: Any) -> None:
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the launcher is the page's only control
    page.keyboard.type("what is minimally invasive spine surgery")
    page.keyboard.press("Enter")
    wait_for_bot(page, "umbrella term")
    page.keyboard.press("Escape")
    assert page.get_by_role("button", name=re.compile("Open chat")).is_visible()
    focused = page.evaluate(
        "() => document.querySelector('#spine-care-widget').shadowRoot.activeElement?.className"
    )
    assert focused == "launcher"


def test_emergency_reply_stands_out(page: Any) -> None:
    open_chat(page)
    ask(page, "since this morning I can't pee at all and my legs are numb")
    urgent = page.locator("#spine-care-widget .msg.urgent")
    urgent.wait_for()
    assert "112" in urgent.inner_text()
    assert "URGENT" in urgent.inner_text().upper()


def test_the_triage_question_is_answered_with_its_buttons(page: Any) -> None:
    """An unclear red flag gets one question that already gives the numbers; "No" brings the
    answer the question held back, and the buttons are used once."""
    open_chat(page)
    ask(page, UNCLEAR_RED_FLAG)
    wait_for_bot(page, "call 112 or 108 now")
    groups = page.locator("#spine-care-widget .quick-replies")
    # pinned by position: the answer that follows adds its own group
    no = groups.nth(groups.count() - 1).get_by_role("button", name="No, none of these")
    no.click()
    wait_for_bot(page, "If any of those start")
    assert no.is_disabled()
    assert page.locator("#spine-care-widget .msg.urgent").count() == 0


def test_offline_then_recovery_without_duplicates(page: Any, stack: Stack) -> None:
    open_chat(page)
    page.context.set_offline(True)
    ask(page, "how many days will I be in hospital")
    page.locator("#spine-care-widget .status", has_text="Can't reach the assistant").wait_for()
    page.screenshot(path=str(SHOTS / "desktop-offline.png"))
    status = page.locator("#spine-care-widget .status")
    status.get_by_role("button", name="Retry now").click()  # still offline: still kept
    status.get_by_text("Can't reach the assistant").wait_for()
    page.context.set_offline(False)  # back online: the kept message goes out by itself
    wait_for_bot(page, "1-2 days")
    assert status.is_hidden()
    assert page.locator("#spine-care-widget .msg.user").count() == 1


def test_lost_response_is_retried_and_answered_once(page: Any, stack: Stack) -> None:
    """The request reaches the server but the browser never sees the answer: the widget retries
    with the same message id and the server does not process the message twice."""
    state = {"dropped": 0}

    def drop_first_response(route: Any) -> None:
        if state["dropped"] == 0:
            state["dropped"] = 1
            route.fetch()  # the server handles the message ...
            route.abort()  # ... but the answer is lost on the way back
        else:
            route.continue_()

    page.route("**/webhooks/webchat/webhook", drop_first_response)
    open_chat(page)
    ask(page, "when can I walk after the operation")
    wait_for_bot(page, "within hours")
    sender = "web:" + page.evaluate(
        "() => Object.entries(localStorage).map(([k, v]) => JSON.parse(v).sender)[0]"
    )
    with sqlite3.connect(stack.db_path) as conn:
        users = conn.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ? AND type_name = 'user'", (sender,)
        ).fetchone()[0]
    assert state["dropped"] == 1
    assert users == 1
    assert page.locator("#spine-care-widget .msg.bot", has_text="within hours").count() == 1


def test_restart_starts_a_new_conversation(page: Any) -> None:
    open_chat(page)
    ask(page, "how big is the incision")
    wait_for_bot(page, "less than one inch")
    before = page.evaluate("() => JSON.parse(Object.values(localStorage)[0]).sender")
    page.get_by_role("button", name="Restart conversation").click()
    assert page.locator("#spine-care-widget .msg.user").count() == 0
    after = page.evaluate("() => JSON.parse(Object.values(localStorage)[0]).sender")
    assert after != before


def stored_widget(page: Any) -> str:
    """Everything the widget keeps in the browser's storage, as one string."""
    return page.evaluate("() => JSON.stringify(Object.entries(localStorage))")


def test_the_device_keeps_no_name_or_number(page: Any) -> None:
    open_chat(page)
    ask(page, "please ask your team to call me back")
    wait_for_bot(page, "full name")
    ask(page, "Ravindra Kulkarni")
    wait_for_bot(page, "mobile number")
    ask(page, "91234 56789")
    wait_for_bot(page, "contact you")
    ask(page, "you can also mail me at ravi.k@example.com or call +91 99887 76655")
    wait_for_bot(page, "yes or no")
    ask(page, "yes")
    wait_for_bot(page, "call-back request is noted")  # "Thank you, Ravindra Kulkarni. ..."
    page.wait_for_function(
        "() => !JSON.parse(Object.values(localStorage)[0]).pending.length", timeout=20000
    )
    kept = stored_widget(page)
    for secret in ("Ravindra", "Kulkarni", "91234", "56789", "ravi.k@", "99887"):
        assert secret not in kept
    page.reload()  # the panel stays open; the patient sees what the device kept
    page.locator(
        "#spine-care-widget .msg.user", has_text="not kept on this device"
    ).first.wait_for()
    assert "Ravindra" not in page.locator("#spine-care-widget .log").inner_text()


def test_the_chat_is_dropped_after_the_idle_time(page: Any) -> None:
    open_chat(page)
    ask(page, "how big is the incision")
    wait_for_bot(page, "less than one inch")
    before = page.evaluate("() => JSON.parse(Object.values(localStorage)[0]).sender")
    # the patient comes back after the idle time (30 minutes by default)
    page.evaluate(
        """() => { const [k, v] = Object.entries(localStorage)[0]; const s = JSON.parse(v);
        s.lastActive = Date.now() - 31 * 60000; localStorage.setItem(k, JSON.stringify(s)); }"""
    )
    page.reload()
    open_chat(page)
    assert page.locator("#spine-care-widget .msg.user").count() == 0
    assert "less than one inch" not in bot_text(page)
    after = page.evaluate("() => JSON.parse(Object.values(localStorage)[0]).sender")
    assert after != before


def test_a_visible_control_clears_the_chat(page: Any) -> None:
    open_chat(page)
    ask(page, "how big is the incision")
    wait_for_bot(page, "less than one inch")
    clear = page.get_by_role("button", name="Clear this chat from this device")
    assert clear.is_visible()
    clear.click()
    page.locator("#spine-care-widget .status", has_text="cleared").wait_for()
    assert page.locator("#spine-care-widget .msg.user").count() == 0
    assert "incision" not in stored_widget(page)


def test_delete_my_data_clears_the_device_too(page: Any) -> None:
    open_chat(page)
    ask(page, "how big is the incision")
    wait_for_bot(page, "less than one inch")
    before = page.evaluate("() => JSON.parse(Object.values(localStorage)[0]).sender")
    ask(page, "delete my data")
    wait_for_bot(page, "cannot be undone")
    page.get_by_role("button", name="Yes, delete my data").click()
    wait_for_bot(page, "I deleted this conversation")
    assert page.locator("#spine-care-widget .msg.user").count() == 0
    assert "incision" not in stored_widget(page)
    after = page.evaluate("() => JSON.parse(Object.values(localStorage)[0]).sender")
    assert after != before


def test_phone_width_is_full_screen(browser: Any, stack: Stack) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    tab = context.new_page()
    tab.goto(stack.web_url + "/")
    tab.screenshot(path=str(SHOTS / "phone-360-closed.png"))
    open_chat(tab)
    ask(tab, "show me doctors in kolkatta")
    tab.locator("#spine-care-widget .card").first.wait_for()
    box = tab.locator("#spine-care-widget .panel").bounding_box()
    assert box["width"] == 360
    assert box["height"] >= 700
    scroll_width = tab.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= 360
    tab.screenshot(path=str(SHOTS / "phone-360-open.png"))
    context.close()


@pytest.fixture(scope="module", autouse=True)
def _shots_dir() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


def test_staff_review_a_widget_conversation_in_the_console(browser: Any, stack: Stack) -> None:
    """The console as a staff member sees it: a patient's emergency message from the widget is found
    with the emergency filter, annotated, exported; the metrics page is drawn (screenshot)."""
    import sqlalchemy as sa

    from console.accounts import Accounts
    from tests.support.console_client import PASSWORD

    patient = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = patient.new_page()
    tab.goto(stack.web_url + "/")
    open_chat(tab)
    ask(tab, "since this morning i cannot pee even though my bladder feels full")
    wait_for_bot(tab, "112")
    patient.close()
    engine = sa.create_engine(stack.db_url)
    Accounts(engine).add("nurse.asha", PASSWORD, "agent")
    engine.dispose()

    staff = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    console = staff.new_page()
    console.goto(stack.web_url + "/console/")
    console.get_by_label("Username").fill("nurse.asha")
    console.get_by_label("Password").fill(PASSWORD)
    console.get_by_role("button", name="Log in").click()
    console.get_by_role("heading", name=re.compile("Conversations")).wait_for()

    console.get_by_label("Flag").select_option("emergency")
    console.get_by_role("button", name="Filter").click()
    rows = console.locator("table.list tbody tr")
    rows.first.wait_for()
    assert "emergency" in rows.first.inner_text()
    assert all("emergency" in text for text in rows.all_inner_texts())
    rows.first.locator("a").click()
    message = console.locator("li.turn.user", has_text="cannot pee")
    message.wait_for()
    assert "emergency" in message.locator(".nlu").inner_text()
    console.screenshot(path=str(SHOTS / "console-transcript.png"), full_page=True)

    message.get_by_label("Correct label").select_option("emergency")
    message.get_by_role("button", name="Annotate").click()
    console.locator("li.turn.user", has_text="cannot pee").locator(
        ".flag", has_text="annotated: emergency"
    ).wait_for()

    console.get_by_role("link", name=re.compile("Conversations")).first.click()
    with console.expect_download() as download_info:
        console.get_by_role("link", name=re.compile("annotations")).click()
    exported = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "- intent: emergency" in exported
    assert "since this morning i cannot pee" in exported
    with console.expect_download() as download_info:
        console.get_by_role("link", name=re.compile("CSV")).click()
    table = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert table.startswith("conversation_key,conversation,started")

    console.get_by_role("link", name="Metrics").click()
    console.locator("svg.chart").first.wait_for()
    assert console.locator("svg.chart").count() == 4
    assert int(console.locator("#m-emergencies").inner_text()) >= 1
    console.screenshot(path=str(SHOTS / "console-metrics.png"), full_page=True)
    console.get_by_role("link", name="Bookings").click()
    console.get_by_role("heading", name=re.compile("Booking requests")).wait_for()
    console.screenshot(path=str(SHOTS / "console-bookings.png"), full_page=True)
    staff.close()
