"""A fake WhatsApp Graph API on loopback: records every request; can be told to fail."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List

from devstack.servers import free_port


class FakeGraph:
    def __init__(self) -> None:
        self.port = free_port()
        self.requests: List[Dict[str, Any]] = []
        self.fail_next = 0  # answer this many requests with HTTP 500
        self.throttle_next = 0  # answer this many requests with HTTP 429 and Retry-After
        self.retry_after = 2
        self.failed = 0
        self.failed_at: List[float] = []  # when each failed request came (monotonic)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    if fake.throttle_next > 0:
                        fake.throttle_next -= 1
                        fake.failed += 1
                        fake.failed_at.append(time.monotonic())
                        self.send_response(429)
                        self.send_header("Retry-After", str(fake.retry_after))
                        self.end_headers()
                        self.wfile.write(b'{"error": {"message": "rate limited"}}')
                        return
                    if fake.fail_next > 0:
                        fake.fail_next -= 1
                        fake.failed += 1
                        fake.failed_at.append(time.monotonic())
                        self.send_response(500)
                        self.end_headers()
                        self.wfile.write(b'{"error": {"message": "temporary"}}')
                        return
                    fake.requests.append(
                        {
                            "path": self.path,
                            "auth": self.headers.get("Authorization"),
                            "body": body,
                            "at": time.monotonic(),
                        }
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


def delivery(*messages: Dict[str, Any], statuses: List[Dict[str, Any]] | None = None) -> Dict:
    """A webhook body as Meta sends it."""
    value: Dict[str, Any] = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"}}
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba", "changes": [{"field": "messages", "value": value}]}],
    }


def text_message(sender: str, message_id: str, body: str) -> Dict[str, Any]:
    return {
        "from": sender,
        "id": message_id,
        "timestamp": "1",
        "type": "text",
        "text": {"body": body},
    }


def signed_post(url: str, payload: Any, secret: str) -> int:
    """POST a delivery to the WhatsApp webhook, signed as Meta signs it; the HTTP status."""
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def texts_of(sent: List[Dict[str, Any]]) -> str:
    out = []
    for message in sent:
        if message.get("type") == "text":
            out.append(message["text"]["body"])
        elif message.get("type") == "interactive":
            out.append(message["interactive"]["body"]["text"])
    return "\n".join(out)
