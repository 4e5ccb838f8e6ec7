"""Start the real stack (the project's Procfile under honcho) on free ports for end-to-end tests."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing, contextmanager
from contextlib import suppress as contextlib_suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


_HANDED_OUT: set[int] = set()


# Back pain with legs that "feel a bit odd": a triage rule matches (both legs) and the triage
# classifier is fairly sure it is routine, so neither the emergency reply nor an answer alone but
# one triage question with the numbers (data/rules/triage.yml).
UNCLEAR_RED_FLAG = "my back hurts and my legs feel a bit odd, is MISS for me?"

# A whole booking on the widget: (message, a word its answer contains).
BOOKING_SCRIPT = [
    ('/book_appointment{"doctor_id":"sunit-mediratta","consult_mode":"online"}', "date"),
    ("tomorrow", "time of day"),
    ("morning", "full name"),
    ("Kavya Rao", "mobile number"),
    ("98765 43210", "contact you"),
    ("yes", "Dr. Sunit Mediratta"),
    ("yes", "BK-"),
]


def _descendants(pid: int) -> List[int]:
    """All processes below ``pid`` (Linux /proc)."""
    found: List[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib_suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def free_port() -> int:
    """A port nothing listens on, never one handed out before in this process: a stack's ports
    are picked before its servers bind them, and the kernel may offer a just-released port again
    (once the website got the Rasa server's port and answered its health check)."""
    while True:
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def http(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read().decode(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def post_sized(
    url: str, declared: int, body: bytes = b"", content_type: str = "application/json"
) -> Tuple[int, float]:
    """POST with a declared Content-Length of ``declared`` bytes, sending only ``body``: a server
    that honours a body limit answers 413 from the headers alone. (status, seconds)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    start = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(declared))
        conn.endheaders()
        if body:
            with contextlib_suppress(OSError):  # the server may close before reading it all
                conn.send(body)
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.monotonic() - start


@dataclass
class Stack:
    """A running action server + Rasa server started from the Procfile."""

    workdir: Path
    rasa_port: int
    actions_port: int
    database_url: str | None = None  # default: a SQLite file in workdir
    web_port: int = 0  # 0: a free port is chosen
    extra_env: Dict[str, str] | None = None
    processes: Tuple[str, ...] = ()  # Procfile entries to start; () = all of them
    endpoints: Path | None = None  # default: endpoints.yml for this stack's ports
    process: subprocess.Popen | None = None
    groups: List[int] = field(default_factory=list)  # process groups of its servers

    def __post_init__(self) -> None:
        self.web_port = self.web_port or free_port()

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / "spine.db"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.db_path}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "honcho.log"

    def write_endpoints(self) -> Path:
        path = self.workdir / "endpoints.yml"
        path.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{self.actions_port}/webhook"\n'
            "tracker_store:\n  type: spine_rasa.tracker_store.ProjectSQLTrackerStore\n"
            "lock_store:\n  type: spine_rasa.sqlite_lock_store.SQLiteLockStore\n"
        )
        return path

    def start(self, timeout: float = 180) -> Stack:
        env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "RASA_PORT": str(self.rasa_port),
            "ACTIONS_PORT": str(self.actions_port),
            "RASA_ENDPOINTS": str(self.endpoints or self.write_endpoints()),
            "DATABASE_URL": self.db_url,
            "SPINE_LOCK_DB": str(self.workdir / "locks.db"),
            "WEB_PORT": str(self.web_port),
            "RASA_PUBLIC_URL": self.base_url,
            "CORS_ORIGINS": self.web_url,
            **(self.extra_env or {}),
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": str(ROOT),
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "honcho"), "start", "-f", str(ROOT / "Procfile"), *self.processes],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stack exited early:\n{self.log_tail()}")
            if all(self._answers(url, who) for url, who in self._health_urls()):
                # honcho starts each server in its own session: remember their groups, so a
                # killed stack (kill(), or honcho gone) takes its servers with it
                self.groups = sorted({os.getpgid(p) for p in _descendants(self.process.pid)})
                return self
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"stack not ready after {timeout}s:\n{self.log_tail()}")

    def _health_urls(self) -> List[Tuple[str, str]]:
        """(url, what its answer must contain): each server must be the one we started."""
        urls = {
            "rasa": (f"{self.base_url}/", "Hello from Rasa"),
            "actions": (f"http://127.0.0.1:{self.actions_port}/health", "ok"),
            "web": (f"{self.web_url}/healthz", ""),
        }
        return [url for name, url in urls.items() if not self.processes or name in self.processes]

    @staticmethod
    def _answers(url: str, who: str = "") -> bool:
        try:
            status, body = http("GET", url, timeout=2)
        except OSError:
            return False
        return status == 200 and who in json.dumps(body)

    def stop(self, timeout: float = 30) -> int | None:
        """Stop like a user pressing Ctrl-C: SIGINT to honcho, which stops both servers."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            self.kill()  # honcho gone: its servers may live on in their own sessions
            return self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise

    def kill(self) -> None:
        """SIGKILL the whole stack at once, servers included, as a crashed machine would."""
        assert self.process is not None
        for group in [self.process.pid, *self.groups]:
            with contextlib_suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def say(self, sender: str, message: str) -> List[Dict[str, Any]]:
        status, replies = http(
            "POST", f"{self.base_url}/webhooks/rest/webhook", {"sender": sender, "message": message}
        )
        assert status == 200, (status, replies)
        assert isinstance(replies, list)
        return replies


def texts(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


@contextmanager
def website(**env: str) -> Iterator[str]:
    """The website process alone (``python -m webapp``) on a free port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "WEB_PORT": str(port), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not Stack._answers(url + "/healthz"):
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright (it cannot download browsers here); CI must have it."""
    import pytest

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("/usr/bin/chromium missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


def open_chat(page: Any) -> None:
    """Open the website widget (a Playwright page on the demo site)."""
    import re

    page.get_by_role("button", name=re.compile("Open chat")).click()
    page.get_by_label("Your message").wait_for()


def ask(page: Any, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def webchat(stack: Stack, sender: str, text: str) -> Tuple[List[Dict[str, Any]], float]:
    """One widget message through the webchat channel: (replies, seconds until they came)."""
    import uuid

    started = time.monotonic()
    status, replies = http(
        "POST",
        f"{stack.base_url}/webhooks/webchat/webhook",
        {"sender": sender, "message": text, "message_id": uuid.uuid4().hex},
        timeout=30,
    )
    assert status == 200, (status, replies)
    return replies, time.monotonic() - started


class ActionServer:
    """The project's action server (python -m rasa_sdk) on a fixed port, or a stand-in answering
    500 on the same port."""

    def __init__(self, port: int, log: Path, env: Dict[str, str] | None = None) -> None:
        self.port, self.log, self.env = port, log, env or {}
        self.process: subprocess.Popen | None = None
        self.failing: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Stack._answers(f"http://127.0.0.1:{self.port}/health", "ok"):
                return
            time.sleep(0.2)
        raise TimeoutError("action server did not start")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()
            self.process = None

    def answer_500(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"boom")

            def log_message(self, *args: Any) -> None:
                pass

        self.failing = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.failing.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.kill()
        if self.failing is not None:
            self.failing.shutdown()
            self.failing.server_close()
