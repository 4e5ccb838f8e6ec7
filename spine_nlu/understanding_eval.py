"""Patient-voice understanding: right answer / honest clarification / wrong answer.

Runs each item of ``tests/understanding/<part>.yml`` (written blind from the page,
docs/eval/understanding-spec.md) as a real conversation through the trained model and the custom
actions, and scores every question of every patient turn against its label:

- ``part: P14``: right when a reply is one of the answers ``tests/understanding/parts.yml`` lists
  for that page part (or a grounded passage from one of its headings);
- ``doctors: [...]``: right when the first doctors the reply names are exactly those (the
  winner and ties first), and no other doctor is named unless the reply's first line already
  named the right ones; ``not_listed`` also needs the words "not listed";
- ``outside``: right when the reply says honestly that the guide does not answer it or that a
  doctor must decide.

A question that is not answered right is *wrong* when the turn carries an answer that answers
none of its questions (a wrong article, the wrong doctors, a guide answer to an outside
question), else a *clarification* when the assistant asked back or said it is unsure, else
*missed* (silently dropped). The targets (issue: at least 90 % right, at most 2 % wrong) are
over questions.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

from spine_content.yaml_files import read_yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "tests" / "understanding"
PARTS = {"dev": FOLDER / "dev.yml", "heldout": FOLDER / "heldout.yml"}
DEFAULT_MODEL = ROOT / "models" / "spine.tar.gz"
OUTCOMES = ("right", "clarify", "missed", "wrong")
GUIDE_PREFIXES = ("utter_article/", "utter_faq/")
DOCTOR_REPLIES = ("utter_specialist_cards", "utter_specialist_detail")
# Replies that only accompany another one (a safety line, the urgent-help numbers).
NEUTRAL = ("utter_safety_net", "utter_clarify_urgent_help", "utter_emergency_followup")


@dataclass(frozen=True)
class Reply:
    action: str  # the response name ("utter_faq/recovery_time"), "" for plain text
    text: str
    section: str  # the page heading a grounded passage quotes, "" otherwise


@dataclass
class Scorer:
    keys: Dict[str, List[str]]
    headings: Dict[str, List[str]]
    honest: Tuple[str, ...]
    clarify: Tuple[str, ...]
    doctors: Dict[str, List[str]]  # full name -> words that name them
    unlisted: Tuple[str, ...] = ()  # "no listed doctor in <city>"

    @property
    def says_outside(self) -> Tuple[str, ...]:
        """Replies that are right for a question the guide does not answer."""
        return self.honest + self.unlisted

    @classmethod
    def load(cls, path: Path = FOLDER / "parts.yml") -> Scorer:
        data = read_yaml(path)
        parts = data["parts"]
        specialists = read_yaml(ROOT / "content" / "specialists.yml")["specialists"]
        doctors = {
            s["name"]: [w for w in re.split(r"[\s.]+", s["name"].lower()) if len(w) > 3]
            for s in specialists
        }
        return cls(
            keys={p: list(v["keys"]) for p, v in parts.items()},
            headings={p: list(v.get("headings") or []) for p, v in parts.items()},
            honest=tuple(data["honest"]),
            clarify=tuple(data["clarify"]),
            doctors=doctors,
            unlisted=tuple(data.get("unlisted") or ()),
        )

    def named_doctors(self, text: str) -> List[str]:
        """Doctors in order of first mention (any word of the name, e.g. "Mediratta")."""
        lowered = text.lower()
        first: Dict[str, int] = {}
        for name, words in self.doctors.items():
            hits = [m.start() for w in words for m in re.finditer(rf"\b{re.escape(w)}\b", lowered)]
            if hits:
                first[name] = min(hits)
        return sorted(first, key=first.__getitem__)

    def answers_part(self, reply: Reply, part: str) -> bool:
        key = reply.action.removeprefix("utter_")
        if key in self.keys.get(part, []):
            return True
        return bool(reply.section) and reply.section in self.headings.get(part, [])

    def is_guide_answer(self, reply: Reply) -> bool:
        return reply.action.startswith(GUIDE_PREFIXES) or bool(reply.section)

    def doctor_text(self, replies: Sequence[Reply]) -> str:
        return "\n".join(r.text for r in replies if r.action in DOCTOR_REPLIES or not r.action)

    def answers_doctors(self, replies: Sequence[Reply], expect: Dict[str, Any]) -> bool:
        wanted = set(expect.get("doctors") or [])
        text = self.doctor_text(replies)
        named = self.named_doctors(text)
        if not wanted or set(named[: len(wanted)]) != wanted:
            return False
        if expect.get("not_listed") and "not listed" not in text.lower():
            return False
        if len(set(named)) == len(wanted):
            return True
        first_line = text.strip().split("\n", 1)[0]
        return set(self.named_doctors(first_line)) == wanted

    def right(self, replies: Sequence[Reply], expect: Dict[str, Any]) -> bool:
        if "part" in expect:
            return any(self.answers_part(r, str(expect["part"])) for r in replies)
        if "doctors" in expect:
            return self.answers_doctors(replies, expect)
        return any(r.action in self.says_outside for r in replies)

    def useful(self, reply: Reply, expects: Sequence[Dict[str, Any]]) -> bool:
        """Whether a reply answers one of the turn's questions (else it may be a wrong answer)."""
        for expect in expects:
            if "part" in expect and self.answers_part(reply, str(expect["part"])):
                return True
            if "doctors" in expect and reply.action in DOCTOR_REPLIES:
                named = set(self.named_doctors(reply.text))
                if named & set(expect.get("doctors") or []):
                    return True
            if "outside" in expect and reply.action in self.says_outside:
                return True
        return False

    def score_turn(self, replies: Sequence[Reply], expects: Sequence[Dict[str, Any]]) -> List[str]:
        answers = [
            r
            for r in replies
            if self.is_guide_answer(r) or r.action in DOCTOR_REPLIES + self.honest
        ]
        stray = [r for r in answers if not self.useful(r, expects)]
        asked = any(r.action in self.clarify + self.unlisted for r in replies)
        outcomes = []
        for expect in expects:
            if self.right(replies, expect):
                outcomes.append("right")
            elif stray or ("outside" in expect and answers):
                outcomes.append("wrong")
            elif asked or any(r.action in self.honest for r in replies):
                outcomes.append("clarify")
            else:
                outcomes.append("missed")
        return outcomes


@dataclass
class Result:
    item: str
    kind: str
    turn: int
    text: str
    expect: Dict[str, Any]
    outcome: str
    replies: List[Reply]


@dataclass
class Report:
    part: str
    results: List[Result] = field(default_factory=list)

    def counts(self, kind: str | None = None) -> Counter:
        return Counter(r.outcome for r in self.results if kind in (None, r.kind))

    def rate(self, outcome: str, kind: str | None = None) -> float:
        counts = self.counts(kind)
        total = sum(counts.values())
        return counts[outcome] / total if total else 0.0

    def format(self, details: bool = True) -> str:
        total = self.counts()
        lines = [
            f"understanding, {self.part} part: {sum(total.values())} questions in "
            f"{len({r.item for r in self.results})} items",
            "  right / clarify / missed / wrong: "
            + " / ".join(f"{total[o]}" for o in OUTCOMES)
            + f"   (right {self.rate('right'):.1%}, wrong {self.rate('wrong'):.1%})",
        ]
        for kind in sorted({r.kind for r in self.results}):
            c = self.counts(kind)
            lines.append(
                f"  {kind:<9} "
                + " / ".join(f"{c[o]}" for o in OUTCOMES)
                + f"   right {self.rate('right', kind):.0%}"
            )
        if details:
            for outcome in ("wrong", "missed", "clarify"):
                rows = [r for r in self.results if r.outcome == outcome]
                if not rows:
                    continue
                lines += ["", f"{outcome}:"]
                for r in rows:
                    got = ", ".join(x.action or "text" for x in r.replies) or "nothing"
                    lines.append(
                        f"  [{r.item}#{r.turn} {_label(r.expect)} -> {got}] {r.text[:160]}"
                    )
        return "\n".join(lines)


def _label(expect: Dict[str, Any]) -> str:
    if "part" in expect:
        return str(expect["part"])
    if "doctors" in expect:
        names = "+".join(n.split()[-1] for n in expect["doctors"])
        return f"doctors:{names}:{expect.get('detail', '')}" + (
            ":not_listed" if expect.get("not_listed") else ""
        )
    return "outside"


def load_items(part: str) -> List[Dict[str, Any]]:
    data = read_yaml(PARTS[part]) or {}
    return list(data.get("items") or [])


def replies_of(events: Sequence[Any]) -> List[Reply]:
    from rasa.shared.core.events import BotUttered

    out = []
    for event in events:
        if isinstance(event, BotUttered):
            meta = event.metadata or {}
            out.append(
                Reply(
                    str(meta.get("utter_action") or ""),
                    event.text or "",
                    str(meta.get("section") or ""),
                )
            )
    return out


async def evaluate(agent: Any, part: str, scorer: Scorer | None = None, every: int = 1) -> Report:
    """Every item of the part, or every ``every``-th one (a fixed sample, for quick checks)."""
    scorer = scorer or Scorer.load()
    report = Report(part)
    for item in load_items(part)[::every]:
        sender = f"eval-{part}-{item['id']}"
        for number, turn in enumerate(item["turns"], start=1):
            known = await agent.tracker_store.retrieve(sender)
            before = len(known.events) if known else 0
            await agent.handle_text(turn["text"], sender_id=sender)
            tracker = await agent.tracker_store.retrieve(sender)
            replies = replies_of(list(tracker.events)[before:])
            expects = list(turn.get("expect") or [])
            for expect, outcome in zip(expects, scorer.score_turn(replies, expects), strict=False):
                report.results.append(
                    Result(item["id"], item["kind"], number, turn["text"], expect, outcome, replies)
                )
    return report


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ActionServer:
    """The project's action server in a subprocess, for the answers that come from actions."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def __enter__(self) -> ActionServer:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("the action server did not start")

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def load_agent(model: Path, action_url: str) -> Any:
    from rasa.utils.endpoints import EndpointConfig

    from spine_rasa import load_agent as load_served_agent

    return load_served_agent(str(model), action_endpoint=EndpointConfig(url=action_url))


def reports(
    parts: Sequence[str], model: Path = DEFAULT_MODEL, every: Dict[str, int] | None = None
) -> Iterator[Report]:
    """One report per part; ``every`` samples a part (every n-th item) where it names one."""
    with ActionServer() as server:
        agent = load_agent(model, server.url)
        for part in parts:
            if PARTS[part].exists():
                yield asyncio.run(evaluate(agent, part, every=(every or {}).get(part, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("parts", nargs="*", default=["dev", "heldout"], choices=sorted(PARTS))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--summary", action="store_true", help="counts only, no lists")
    args = parser.parse_args()
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.getLogger().setLevel(logging.ERROR)
    for report in reports(args.parts, args.model):
        print(report.format(details=not args.summary))
        print()


if __name__ == "__main__":
    main()
