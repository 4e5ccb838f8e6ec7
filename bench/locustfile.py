"""Load for `make bench`: patients asking the guide's questions over Rasa's REST webhook.

Runs in its own virtualenv (.venv-bench: locust brings gevent, which must not share a process or
an environment with Rasa). Each simulated user is a patient: a new conversation id, a few
questions one after the other (no think time: this measures capacity), then a new conversation —
so trackers stay the length of real conversations.

Each message is sent on its own connection (``Connection: close``), as messages reach a server
through the site's load balancer one request at a time: with a kept-alive connection a simulated
patient would stay pinned to one Sanic worker for the whole run, and an uneven split of users
between workers would be measured instead of the servers. BENCH_KEEPALIVE=1 keeps connections.

FastHttpUser (geventhttpclient) rather than HttpUser (requests): the load generator shares the
machine's two cores with the servers it measures, and needs several times less CPU per request.
"""
from __future__ import annotations

import os
import random
import uuid

from locust import FastHttpUser, constant, task

MESSAGES = [
    "hi",
    "what is minimally invasive spine surgery?",
    "how long is the recovery after keyhole spine surgery?",
    "how big is the incision?",
    "is MISS safe for elderly people?",
    "what are the risks of minimally invasive spine surgery",
    "how long will i stay in hospital",
    "can i walk after the surgery",
    "which conditions can be treated with MISS?",
    "show me neurosurgeons in Delhi",
    "is there a spine specialist in kolkata",
    "what is the difference between open and minimally invasive surgery",
    "will i need physiotherapy afterwards",
    "thanks",
]
TURNS_PER_CONVERSATION = 8
HEADERS = {} if os.environ.get("BENCH_KEEPALIVE") == "1" else {"Connection": "close"}


class Patient(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()  # noqa: S311 - load mix, not security
        self._new_conversation()

    def _new_conversation(self) -> None:
        self.sender = f"bench-{uuid.uuid4().hex}"
        self.turns = 0

    @task
    def ask(self) -> None:
        if self.turns >= TURNS_PER_CONVERSATION:
            self._new_conversation()
        self.turns += 1
        message = self.rng.choice(MESSAGES)
        with self.client.post(
            "/webhooks/rest/webhook",
            json={"sender": self.sender, "message": message},
            headers=HEADERS,
            name="message",
            catch_response=True,
        ) as reply:
            if reply.status_code != 200 or not reply.json():
                reply.failure(f"status {reply.status_code}, no answer")
