"""Specialist cards and follow-up questions about the doctors just shown."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Sequence

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.specialists_directory import (
    ORDER_LABELS,
    Directory,
    SearchResult,
    Specialist,
    card_buttons,
    cards_message,
    find_by_name,
    format_fees,
    format_recommendation,
    load_directory,
    location,
    parse_request,
    search,
    short_name,
)

CITY_ENTITY = "city"


def place_entities(parse_data: Dict[str, Any]) -> List[str]:
    return [
        str(e.get("value"))
        for e in parse_data.get("entities") or []
        if e.get("entity") == CITY_ENTITY and e.get("value")
    ]


def intro_for(result: SearchResult, directory: Directory) -> str:
    request, found = result.request, result.specialists
    count = len(found)
    noun = "specialist" if count == 1 else "specialists"
    if request.names:
        intro = "Here is the specialist you asked about:" if count == 1 else "I found these:"
    elif request.city:
        intro = (
            f"Here {'is the' if count == 1 else 'are the'} {count} listed {noun} in {request.city}:"
        )
    elif request.refines:
        intro = f"Of the {noun} I just showed you:"
    else:
        intro = f"Here {'is' if count == 1 else 'are'} the {count} listed {noun}:"
    details = []
    if request.max_fee is not None:
        details.append(f"fees of ₹{request.max_fee:,} or less")
    if request.order:
        details.append(ORDER_LABELS[request.order])
    if details:
        intro = intro.rstrip(":") + f" ({'; '.join(details)}):"
    if result.no_fee_listed:
        names = ", ".join(s.name for s in result.no_fee_listed)
        intro += f"\n(No fee is listed for {names}.)"
    return intro


class ActionShowSpecialists(Action):
    def name(self) -> str:
        return "action_show_specialists"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        directory = load_directory()
        parse_data = tracker.latest_message or {}
        text = parse_data.get("text") or ""
        if text.startswith("/"):
            text = ""  # the "show all specialists" button
        request = parse_request(text, place_entities(parse_data), directory)
        result = search(request, directory, tracker.get_slot("specialist_ids") or [])
        if request.other_place:
            dispatcher.utter_message(
                response="utter_no_specialist_in_city",
                place=request.other_place,
                cities=", ".join(directory.cities),
            )
            return []
        if not result.specialists:
            note = ""
            if result.no_fee_listed:
                note = (
                    " No fee is listed for " + ", ".join(s.name for s in result.no_fee_listed) + "."
                )
            dispatcher.utter_message(
                response="utter_no_specialist_under_fee",
                max_fee=f"{request.max_fee:,}",
                no_fee_note=note,
            )
            return []
        message = cards_message(result.specialists, intro_for(result, directory))
        dispatcher.utter_message(
            response="utter_specialist_cards",
            cards_text=message["text"],
            custom=message["custom"],
            buttons=message["buttons"],
        )
        return [SlotSet("specialist_ids", [s.id for s in result.specialists])]


DETAILS = {
    "qualifications": r"qualif\w*|degree\w*|mbbs|educat\w*|stud\w*|certif\w*|trained",
    "fees": r"fee\w*|cost\w*|charge\w*|price|how much|paisa|kitna",
    "experience": r"experience\w*|years?|how long|senior",
    "recommendation": r"recommend\w*|rating|rated|review\w*|patients",
    "hospital": r"hospital|where|clinic|work\w*|located|city|address|practi[cs]e",
}


def detail_kind(text: str) -> str | None:
    lowered = text.lower()
    return next((k for k, p in DETAILS.items() if re.search(rf"\b(?:{p})\b", lowered)), None)


def detail_line(specialist: Specialist, kind: str | None) -> str:
    if kind == "qualifications":
        return f"{specialist.name}: {specialist.qualifications}"
    if kind == "fees":
        extra = " (No Booking Fees)" if specialist.no_booking_fees else ""
        return f"{specialist.name}: fees {format_fees(specialist)}{extra}"
    if kind == "experience":
        return f"{specialist.name}: {specialist.experience_years} years of experience"
    if kind == "recommendation":
        return f"{specialist.name}: recommendation {format_recommendation(specialist)}"
    if kind == "hospital":
        return f"{specialist.name}: {location(specialist)}"
    return (
        f"{specialist.name}, {specialist.specialty}: {specialist.experience_years} years; "
        f"{specialist.qualifications}; {location(specialist)}; "
        f"recommendation {format_recommendation(specialist)}; fees {format_fees(specialist)}"
    )


def detail_text(specialists: Sequence[Specialist], kind: str | None) -> str:
    lines = [detail_line(s, kind) for s in specialists]
    if kind == "fees" and any(s.fees for s in specialists):
        lines.append("Fees are shown as listed on the doctor's card.")
    return "\n".join(lines)


def all_cards_text(specialists: Sequence[Specialist], kind: str, text: str) -> str:
    """A detail asked about no doctor in particular, answered from every listed card."""
    if kind == "fees" and re.search(r"\bbooking\b", text.lower()):
        free = [s.name for s in specialists if s.no_booking_fees]
        other = [s.name for s in specialists if not s.no_booking_fees]
        line = f"The cards of {', '.join(free)} say \"No Booking Fees\"."
        if other:
            line += f" The cards of {', '.join(other)} do not mention a booking fee."
        return line
    return "For the listed specialists:\n" + detail_text(specialists, kind)


class ActionSpecialistDetail(Action):
    """Follow-ups ("what are his qualifications?"): the doctor named, else those just shown."""

    def name(self) -> str:
        return "action_specialist_detail"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        directory = load_directory()
        text = (tracker.latest_message or {}).get("text") or ""
        named = find_by_name(text, directory)
        if len(named) == len(directory.specialists):
            named = []
        shown_ids = tracker.get_slot("specialist_ids") or []
        targets = named or [s for s in directory.specialists if s.id in shown_ids]
        kind = detail_kind(text)
        if not targets and kind is not None:
            # "is there a booking fee?" with no doctor in view: the answer for every card.
            dispatcher.utter_message(
                response="utter_specialist_detail",
                detail_text=all_cards_text(directory.specialists, kind, text),
            )
            return []
        if not targets:
            dispatcher.utter_message(
                response="utter_which_specialist",
                buttons=[
                    {"title": short_name(s), "payload": s.name} for s in directory.specialists
                ],
            )
            return []
        buttons = card_buttons(targets[0]) if len(targets) == 1 else []
        dispatcher.utter_message(
            response="utter_specialist_detail",
            detail_text=detail_text(targets, kind),
            buttons=buttons,
        )
        return [SlotSet("specialist_ids", [s.id for s in targets])]
