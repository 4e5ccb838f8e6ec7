"""Specialist cards and follow-up questions about the doctors just shown."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Dict, List, Sequence, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from spine_content.specialists_directory import (
    FIRST_SAID,
    ORDER_LABELS,
    SAME_HOSPITAL,
    THE_OTHER,
    YEARS,
    Directory,
    SearchRequest,
    SearchResult,
    Specialist,
    card_buttons,
    cards_message,
    find_by_name,
    format_fees,
    format_recommendation,
    load_directory,
    location,
    nearest_city,
    parse_request,
    search,
    short_name,
    winners,
)

CITY_ENTITY = "city"


def place_entities(parse_data: Dict[str, Any]) -> List[str]:
    return [
        str(e.get("value"))
        for e in parse_data.get("entities") or []
        if e.get("entity") == CITY_ENTITY and e.get("value")
    ]


BEST_LABELS = {
    ("experience", False): "The most experienced listed",
    ("experience", True): "The least experienced listed",
    ("fee", False): "The lowest listed fee",
    ("fee", True): "The highest listed fee",
    ("recommendation", False): "The highest recommendation listed",
    ("patients", False): "The most patients listed",
}


def best_value(specialist: Specialist, order: str, reverse: bool) -> str:
    """What made a doctor the best of an order, as the card shows it."""
    if order == "experience":
        return f"{specialist.experience_years} years"
    if order == "fee":
        fees = specialist.fees
        return f"₹{(max(fees) if reverse else min(fees)):,}"
    return f"{specialist.recommendation_percent}% recommendation, {specialist.patients} patients"


def names_text(specialists: Sequence[Specialist]) -> str:
    names = [s.name for s in specialists]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def best_intro(result: SearchResult) -> str:
    """The winner (and ties) named first, with the value from the card, then who could not be
    ranked because the card does not show it."""
    request, found = result.request, result.specialists
    assert request.order is not None
    label = BEST_LABELS.get((request.order, request.reverse), BEST_LABELS[(request.order, False)])
    values = {best_value(s, request.order, request.reverse) for s in found}
    each = " each" if len(found) > 1 else ""
    intro = f"{label}: {names_text(found)} ({', '.join(sorted(values))}{each})."
    if result.not_shown:
        what = {"fee": "No fee", "recommendation": "No rating", "patients": "No patient count"}
        intro += (
            f"\n({what.get(request.order, 'Nothing')} is listed for "
            f"{names_text(result.not_shown)}.)"
        )
    return intro


def intro_for(result: SearchResult, directory: Directory) -> str:
    request, found = result.request, result.specialists
    if request.best_only and request.order and found:
        return best_intro(result)
    count = len(found)
    noun = "specialist" if count == 1 else "specialists"
    if request.names:
        intro = "Here is the specialist you asked about:" if count == 1 else "I found these:"
    elif request.city:
        intro = (
            f"Here {'is the' if count == 1 else 'are the'} {count} listed {noun} in {request.city}:"
        )
    elif result.from_shown:
        intro = f"Of the {noun} I just showed you:"
    else:
        intro = f"Here {'is' if count == 1 else 'are'} the {count} listed {noun}:"
    details = filter_phrases(request)
    if request.max_fee is not None:
        details.insert(0, "fees " + fee_limit_text(request))
    if request.order:
        details.append(ORDER_LABELS[request.order])
    if details:
        intro = intro.rstrip(":") + f" ({'; '.join(details)}):"
    if found and not request.names and count <= 3:
        intro = intro.rstrip(":") + f": {names_text(found)}."
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
        parse_data = tracker.latest_message or {}
        text = parse_data.get("text") or ""
        if text.startswith("/"):
            text = ""  # the "show all specialists" button
        return show_specialists(
            dispatcher, text, place_entities(parse_data), tracker.get_slot("specialist_ids") or []
        )


def fee_limit_text(request: SearchRequest) -> str:
    """ "under ₹1,000" (the limit itself left out) or "of ₹1,500 or less"."""
    if request.fee_below:
        return f"under ₹{request.max_fee:,}"
    return f"of ₹{request.max_fee:,} or less"


def filter_phrases(request: SearchRequest) -> List[str]:
    """The request's filters in words (fees and sorting are said apart)."""
    phrases = []
    if request.not_city:
        phrases.append(f"outside {request.not_city}")
    if request.min_years is not None:
        phrases.append(f"at least {request.min_years} years of experience")
    if request.max_years is not None:
        phrases.append(f"at most {request.max_years} years of experience")
    if request.qualification:
        phrases.append(f"{request.qualification} on the card")
    if request.hospital:
        phrases.append(f"at a hospital named {request.hospital.title()}")
    if request.no_booking_fee:
        phrases.append('"No Booking Fees" on the card')
    if request.min_rating is not None:
        phrases.append(f"a recommendation of at least {request.min_rating}%")
    if request.rating_listed:
        phrases.append("a recommendation shown on the card")
    return phrases


def _noun(found: Sequence[Specialist]) -> str:
    return "specialist is" if len(found) == 1 else "specialists are"


def criteria_text(request: SearchRequest) -> str:
    """Why no doctor matched: "in Kolkata; at least 26 years of experience"."""
    parts = ([f"in {request.city}"] if request.city else []) + filter_phrases(request)
    return "; ".join(parts) or "a match for that request"


def show_specialists(
    dispatcher: CollectingDispatcher, text: str, places: Sequence[str], shown: Sequence[str]
) -> List[EventType]:
    """The cards a search request asks for (a city, a fee limit, a sort), or why there are none."""
    directory = load_directory()
    request = parse_request(text, places, directory)
    result = search(request, directory, shown)
    if request.other_place:
        dispatcher.utter_message(
            response="utter_no_specialist_in_city",
            place=request.other_place,
            cities=", ".join(directory.cities),
        )
        near = nearest_city(request.other_place, directory)
        if near and not request.filters:
            # "I am in Haldwani, any doctor near me?": the listed doctors of the nearest city
            nearest = search(replace(request, other_place=None, city=near), directory, shown)
            if nearest.specialists:
                intro = f"The nearest listed {_noun(nearest.specialists)} in {near}:"
                return send_cards(dispatcher, nearest.specialists, intro)
        if not request.filters:
            return []
        # "I live in Kanpur, which doctor has the lowest fee?": the place is where the patient
        # is, the question is about the cards; answer it over every listed city.
        request = replace(request, other_place=None)
        result = search(request, directory, shown)
    if not result.specialists and request.max_fee is None:
        dispatcher.utter_message(
            response="utter_no_specialist_match", criteria=criteria_text(request)
        )
        return []
    if not result.specialists:
        note = ""
        if result.no_fee_listed:
            note = " No fee is listed for " + ", ".join(s.name for s in result.no_fee_listed) + "."
        dispatcher.utter_message(
            response="utter_no_specialist_under_fee",
            fee_limit=fee_limit_text(request),
            no_fee_note=note,
        )
        return []
    return send_cards(dispatcher, result.specialists, intro_for(result, directory))


def send_cards(
    dispatcher: CollectingDispatcher, specialists: Sequence[Specialist], intro: str
) -> List[EventType]:
    """The cards after ``intro``; the doctors shown become the ones follow-ups point at."""
    message = cards_message(specialists, intro)
    dispatcher.utter_message(
        response="utter_specialist_cards",
        cards_text=message["text"],
        custom=message["custom"],
        buttons=message["buttons"],
    )
    return [SlotSet("specialist_ids", [s.id for s in specialists])]


# (kind, words), first match wins: a plain "hospital" word comes last, as "where" and "work" ask
# it only when nothing more precise does, but "which hospital" and "sits in / at" (a doctor "sits"
# at a hospital in Indian English; "which days does he sit" asks for timings) come first.
DETAILS: Tuple[Tuple[str, str], ...] = (
    (
        "hospital",
        r"(?:which|what) (?:hospital|clinic)|sits? (?:in|at)|apollo|indraprastha|katyayani",
    ),
    # Not on any card: said plainly, never guessed.
    ("online", r"online|video|tele\w*|virtual|whatsapp call|phone consult\w*"),
    ("timings", r"timing\w*|opd|schedule|which days|what days|available on|sits?|visiting hours"),
    ("languages", r"languages?|speak\w*|hindi|bengali|bangla|english"),
    ("qualifications", r"qualif\w*|degree\w*|mbbs|educat\w*|stud\w*|certif\w*|trained|mch|dnb"),
    ("fees", r"fee\w*|cost\w*|charge\w*|price|how much|paisa|kitna"),
    ("experience", r"experience\w*|years?|how long|senior"),
    ("recommendation", r"recommend\w*|rating|rated|review\w*|patients"),
    ("hospital", r"hospital|where|clinic|work\w*|located|city|address|practi[cs]e"),
)


def detail_kind(text: str) -> str | None:
    lowered = text.lower()
    if re.search(r"\bbooking (?:fee|charge|amount|cost)\w*|\bbook(?:ing)? fee", lowered):
        return "booking"
    return next((k for k, p in DETAILS if re.search(rf"\b(?:{p})\b", lowered)), None)


NOT_ON_CARDS = {
    "online": "which kinds of consultation (online or in person) are offered",
    "timings": "OPD days or timings",
    "languages": "the languages spoken",
}


def detail_line(specialist: Specialist, kind: str | None) -> str:
    if kind in NOT_ON_CARDS:
        return (
            f"{specialist.name}: {NOT_ON_CARDS[kind]} — not listed on the card. "
            "Our team can confirm when you book or ask for a call-back."
        )
    if kind == "qualifications":
        return f"{specialist.name}: {specialist.qualifications}"
    if kind == "fees":
        extra = " (No Booking Fees)" if specialist.no_booking_fees else ""
        return f"{specialist.name}: fees {format_fees(specialist)}{extra}"
    if kind == "experience":
        return f"{specialist.name}: {specialist.experience_years} years of experience"
    if kind == "recommendation":
        return f"{specialist.name}: recommendation {format_recommendation(specialist)}"
    if kind == "booking":
        if specialist.no_booking_fees:
            return f'{specialist.name}: the card says "No Booking Fees"'
        return f"{specialist.name}: a booking fee is not listed on the card"
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
    if kind == "booking" or (kind == "fees" and re.search(r"\bbooking\b", text.lower())):
        free = [s.name for s in specialists if s.no_booking_fees]
        other = [s.name for s in specialists if not s.no_booking_fees]
        line = f"The cards of {', '.join(free)} say \"No Booking Fees\"."
        if other:
            line += f"\nThe cards of {', '.join(other)} do not mention a booking fee."
        return line
    return "For the listed specialists:\n" + detail_text(specialists, kind)


class ActionSpecialistDetail(Action):
    """Follow-ups ("what are his qualifications?"): the doctor named, else those just shown."""

    def name(self) -> str:
        return "action_specialist_detail"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        shown = tracker.get_slot("specialist_ids") or []
        return specialist_detail(
            dispatcher,
            text,
            shown,
            shown_before(tracker.events, shown),
            first_shown(tracker.events),
        )


def shown_lists(events: Sequence[Dict[str, Any]]) -> List[List[str]]:
    """Every value the doctors in view took in the conversation, in order."""
    return [
        list(event.get("value") or [])
        for event in events
        if event.get("event") == "slot" and event.get("name") == "specialist_ids"
    ]


def shown_before(events: Sequence[Dict[str, Any]], shown: Sequence[str]) -> List[str]:
    """The doctors in view before those now in view: "the other one" points among them."""
    return next((value for value in reversed(shown_lists(events)) if value != list(shown)), [])


def first_shown(events: Sequence[Dict[str, Any]]) -> List[str]:
    """The first doctor shown in the conversation: "the first doctor you said" points at them
    even after other doctors were shown."""
    return next((value[:1] for value in shown_lists(events) if value), [])


_ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
}


def referred(text: str, shown: Sequence[Specialist], directory: Directory) -> List[Specialist]:
    """The doctor(s) a follow-up points at among those just shown: "the second one", "the
    cheaper one", "the kolkata one", "the more experienced one"."""
    if not shown:
        return []
    lowered = text.lower()
    ordinal = re.search(rf"\b({'|'.join(_ORDINALS)})\b(?:\s+(?:one|doctor|dr))?", lowered)
    if ordinal and len(shown) > 1:
        index = _ORDINALS[ordinal.group(1)]
        if -len(shown) <= index < len(shown):
            return [shown[index]]
    # "the one with 20 years experience": the card that shows that many years
    years = re.search(rf"\b(\d{{1,2}}){YEARS}\b", lowered)
    if years and len(shown) > 1:
        with_years = [s for s in shown if s.experience_years == int(years.group(1))]
        if with_years:
            return with_years
    request = parse_request(text, [], directory)
    if request.city:
        in_city = [s for s in shown if s.city == request.city]
        if in_city:
            return in_city
    return better_of(lowered, shown)


_COMPARATIVE = re.compile(
    r"\b(cheaper|costlier|more expensive|(?:more|most) experience[d]?|"
    r"(?:less|least) experience[d]?|more years|longer|senior|junior|better rated|higher rated|"
    r"lower fee|higher fee)\b"
)


def better_of(lowered: str, pool: Sequence[Specialist]) -> List[Specialist]:
    """The one a comparison asks for among ``pool``: "the cheaper one", "which of these two
    has more experience"."""
    comparative = _COMPARATIVE.search(lowered)
    if not comparative or len(pool) < 2:
        return []
    word = comparative.group(1)
    order = "experience"
    if word in ("cheaper", "costlier", "more expensive", "lower fee", "higher fee"):
        order = "fee"
    elif "rated" in word:
        order = "recommendation"
    reverse = word in ("costlier", "more expensive", "higher fee", "junior") or word.startswith(
        ("less", "least")
    )
    return winners(pool, order, reverse)


def colleagues(anchor: Sequence[Specialist], directory: Directory) -> List[Specialist]:
    """The other listed doctors at the hospitals of ``anchor``."""
    hospitals = {s.hospital for s in anchor}
    return [s for s in directory.specialists if s.hospital in hospitals and s not in anchor]


# "which of them has no booking fees", "who among these has a rating shown"
_WHICH_HAS = re.compile(
    r"\b(?:which|who)\b[^.?!]{0,30}\b(?:has|have|having|shows?|gives?|charges?|takes?)\b"
)


def card_shows(specialist: Specialist, kind: str | None) -> bool:
    """Whether the card shows the detail ``kind`` (a booking fee: that there is none)."""
    return {
        "recommendation": specialist.recommendation_percent is not None,
        "booking": specialist.no_booking_fees,
        "fees": bool(specialist.fees),
    }.get(kind or "", True)


# What a card shows, said of one card and of several
_SHOWS = {
    "booking": ('says "No Booking Fees"', 'say "No Booking Fees"'),
    "recommendation": ("shows a patient rating", "show a patient rating"),
    "fees": ("shows a fee", "show a fee"),
}


def which_show_text(shows: Sequence[Specialist], kind: str | None) -> str:
    """The answer to "which of them has ...", first: the cards that show it (or that none does)."""
    if kind not in _SHOWS:
        return ""
    one, several = _SHOWS[kind]
    if not shows:
        return f"None of these cards {one}."
    plural = len(shows) > 1
    return f"The card{'s' if plural else ''} of {names_text(shows)} {several if plural else one}."


def specialist_detail(
    dispatcher: CollectingDispatcher,
    text: str,
    shown_ids: Sequence[str],
    before_ids: Sequence[str] = (),
    first_ids: Sequence[str] = (),
) -> List[EventType]:
    """A detail of the doctor named, else of those just shown, else of every card."""
    directory = load_directory()
    named = find_by_name(text, directory)
    if len(named) == len(directory.specialists):
        named = []
    request = parse_request(text, [], directory)
    by_id = {s.id: s for s in directory.specialists}
    # in the order they were shown: "the second one" is the second card the patient saw
    shown = [by_id[i] for i in dict.fromkeys(shown_ids) if i in by_id]
    lowered = text.lower()
    # One doctor in view: "is dr bhati at the same hospital as dr mediratta" names two and asks
    # where each is, which the detail below answers.
    if SAME_HOSPITAL.search(lowered) and len(named or shown) == 1:
        anchor = named or shown
        others = colleagues(anchor, directory)
        if not others:
            dispatcher.utter_message(
                response="utter_specialist_detail",
                detail_text="No other doctor in the guide's list is at "
                + " or ".join(sorted({s.hospital for s in anchor}))
                + ".",
            )
            return []
        named = others
    elif THE_OTHER.search(lowered) and not named and before_ids:
        others = [s for s in directory.specialists if s.id in before_ids and s not in shown]
        if others:
            shown = others
    elif FIRST_SAID.search(lowered) and not named and first_ids and len(shown) < 2:
        shown = [by_id[i] for i in first_ids if i in by_id]
    if not named and not shown and request.filters:
        # "which doctor has the highest rating?" asked as a detail: a search of every card.
        return show_specialists(dispatcher, text, [], shown_ids)
    # "between him and dr bhati, who has more years": the doctor in view against the one named
    both = list(dict.fromkeys([*named, *shown]))
    compared = better_of(text.lower(), both) if named and shown else []
    # "which of the two is more experienced" left one doctor in view; "and the cheaper one?"
    # still compares the two
    pool = shown
    if len(shown) < 2 and before_ids and _COMPARATIVE.search(lowered):
        pool = list(dict.fromkeys([*shown, *(by_id[i] for i in before_ids if i in by_id)]))
    targets = compared or named or referred(text, pool, directory) or shown
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
            buttons=[{"title": short_name(s), "payload": s.name} for s in directory.specialists],
        )
        return []
    answer = ""
    if len(targets) > 1 and _WHICH_HAS.search(lowered):
        # "which of them has a rating shown": those whose card shows it answer, so come first
        shows = [s for s in targets if card_shows(s, kind)]
        targets = shows + [s for s in targets if s not in shows]
        answer = which_show_text(shows, kind)
    buttons = card_buttons(targets[0]) if len(targets) == 1 else []
    dispatcher.utter_message(
        response="utter_specialist_detail",
        detail_text="\n".join(filter(None, [answer, detail_text(targets, kind)])),
        buttons=buttons,
    )
    return [SlotSet("specialist_ids", [s.id for s in targets])]
