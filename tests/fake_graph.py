"""A fake WhatsApp Graph API on loopback: records every request; can be told to fail."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List

from tests.servers import free_port


class FakeGraph:
    def __init__(self) -> None:
        self.port = free_port()
        self.requests: List[Dict[str, Any]] = []
        self.fail_next = 0  # answer this many requests with HTTP 500
        self.failed = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    if fake.fail_next > 0:
                        fake.fail_next -= 1
                        fake.failed += 1
                        self.send_response(500)
                        self.end_headers()
                        self.wfile.write(b'{"error": {"message": "temporary"}}')
                        return
                    fake.requests.append(
                        {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                    )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"messages": [{"id": "wamid.out"}]}')

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v19.0"

    def start(self) -> FakeGraph:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def sent_to(self, number: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.requests if r["body"].get("to") == number]

    def wait_for(
        self, number: str, until: Callable[[List[Dict[str, Any]]], bool], timeout: float = 20
    ) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.sent_to(number)
            if until(sent):
                return sent
            time.sleep(0.1)
        raise AssertionError(f"not received for {number}: {self.sent_to(number)}")
