"""Follow-ups resolved against the previous answer: "and for a fusion?", "how common is that?".

The NLU (``spine_nlu.question_finder.QuestionFinder``) recognises the shape and puts it in the
parse data (``follow_up``); what it means comes from the conversation: the last guide answer
given, and the ``follow_ups`` table of content/topics.yml.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Dict, List, Sequence

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from spine_content.topics import CONTENT_DIR

FOLLOW_UP_KEY = "follow_up"
ANSWER_PREFIXES = ("utter_faq/", "utter_article/")
# How the reply names each term ("Our guide does not give this separately for a discectomy").
TERM_NAMES = {
    "discectomy": "a discectomy",
    "fusion": "a spinal fusion",
    "laminectomy": "a laminectomy or foraminotomy",
    "open_surgery": "open surgery",
    "herniated_disc": "a herniated or bulging disc",
    "stenosis": "spinal stenosis",
    "spondylolisthesis": "spondylolisthesis",
    "degenerative_disc": "degenerative disc disease",
    "fracture": "spinal fractures",
    "infection_tumor": "spinal infections or tumours",
}


@dataclass(frozen=True)
class FollowUpTable:
    families: Dict[str, Dict[str, str]]
    covers: Dict[str, List[str]]
    risks: List[str]
    procedure_for: Dict[str, str]
    condition_for: Dict[str, str]
    starts: Dict[str, str]

    def resolve(self, previous: str | None, term: str) -> tuple[str | None, bool]:
        """(the answer key for ``term`` after ``previous``, whether that answer is only the
        general one because the guide does not give it for the term)."""
        if previous:
            for family in self.families.values():
                if previous in family.values() and term in family:
                    return family[term], False
            if term in self.covers.get(previous, []):
                return previous, False
            return previous, True
        for family in self.families.values():
            if term in family:
                return family[term], False
        return None, True


@cache
def follow_up_table(path: Path = CONTENT_DIR / "topics.yml") -> FollowUpTable:
    data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("follow_ups") or {}
    return FollowUpTable(
        families={k: dict(v) for k, v in (data.get("families") or {}).items()},
        covers={k: list(v) for k, v in (data.get("covers") or {}).items()},
        risks=list(data.get("risks") or []),
        procedure_for=dict(data.get("procedure_for") or {}),
        condition_for=dict(data.get("condition_for") or {}),
        starts=dict(data.get("starts") or {}),
    )


def previous_answer(events: Sequence[Dict[str, Any]]) -> str | None:
    """The last guide answer the assistant gave before the current message (its key)."""
    seen_current = False
    for event in reversed(events):
        if event.get("event") == "user":
            seen_current = True
            continue
        if not seen_current or event.get("event") != "bot":
            continue
        action = str((event.get("metadata") or {}).get("utter_action") or "")
        if action.startswith(ANSWER_PREFIXES):
            return action.removeprefix("utter_")
    return None


class ActionFollowUp(Action):
    def name(self) -> str:
        return "action_follow_up"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        follow = (tracker.latest_message or {}).get(FOLLOW_UP_KEY) or {}
        table = follow_up_table()
        previous = previous_answer(tracker.events)
        if follow.get("kind") == "how_common":
            if previous is None or previous in table.risks:
                dispatcher.utter_message(response="utter_no_figures")
            else:
                dispatcher.utter_message(response="utter_not_in_guide")
            return []
        if follow.get("kind") == "success":
            # the guide gives a success rate for fusion only (FAQ 3); asked first, that is the
            # one it has, and its answer names fusion; "how often does a discectomy work" it
            # does not give
            term = str(follow.get("term") or "")
            if term == "fusion" or (
                not term and (previous is None or "fusion" in table.covers.get(previous, []))
            ):
                dispatcher.utter_message(response="utter_faq/fusion_success_rate")
            else:
                dispatcher.utter_message(response="utter_not_in_guide")
            return []
        if follow.get("kind") == "when_starts":
            begins = table.starts.get(previous or "")
            dispatcher.utter_message(response=f"utter_{begins}" if begins else "utter_clarify")
            return []
        if follow.get("kind") == "procedure_for":
            procedure = table.procedure_for.get(previous or "")
            if procedure:
                dispatcher.utter_message(response=f"utter_{procedure}")
            elif previous:
                # the guide names no procedure for it ("spondylolisthesis"): its answer says so
                dispatcher.utter_message(response=f"utter_{previous}")
            else:
                dispatcher.utter_message(response="utter_article/procedures")
            return []
        if follow.get("kind") == "condition_for":
            # the guide's list of conditions when no procedure was just explained
            condition = table.condition_for.get(previous or "", "article/conditions_treated")
            dispatcher.utter_message(response=f"utter_{condition}")
            return []
        term = str(follow.get("term") or "")
        key, general = table.resolve(previous, term)
        if key is None:
            dispatcher.utter_message(response="utter_clarify")
            return []
        if general:
            dispatcher.utter_message(
                response="utter_not_in_guide_for", term=TERM_NAMES.get(term, term)
            )
        dispatcher.utter_message(response=f"utter_{key}")
        return []
