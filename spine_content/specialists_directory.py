"""Pure helpers over the specialist directory (content/specialists.yml): search, sort, format.

No Rasa imports here: the custom actions (and later the WhatsApp channel and the staff console)
use these functions, and they are unit-tested on their own.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import yaml

from spine_content.topics import CONTENT_DIR

NOT_LISTED = "not listed"


@dataclass(frozen=True)
class Specialist:
    id: str
    name: str
    specialty: str
    experience_years: int
    qualifications: str
    city: str
    hospital: str
    recommendation_percent: int | None
    patients: str | None
    fees: Tuple[int, ...]
    no_booking_fees: bool

    @property
    def name_words(self) -> List[str]:
        return [w for w in re.split(r"[\s.]+", self.name.lower()) if w and w != "dr"]


@dataclass(frozen=True)
class Directory:
    specialists: Tuple[Specialist, ...]
    city_aliases: Dict[str, str]
    nearby: Dict[str, str] = field(default_factory=dict)  # a nearby town -> a listed city

    @property
    def cities(self) -> List[str]:
        return sorted({s.city for s in self.specialists})


@cache
def load_directory(path: Path = CONTENT_DIR / "specialists.yml") -> Directory:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    specialists = tuple(
        Specialist(**{**entry, "fees": tuple(entry.get("fees") or ())})
        for entry in data["specialists"]
    )
    aliases = {str(k).lower(): str(v) for k, v in (data.get("city_aliases") or {}).items()}
    nearby = {
        str(town).lower(): str(city)
        for city, towns in (data.get("nearby") or {}).items()
        for town in towns or ()
    }
    return Directory(specialists, aliases, nearby)


def nearest_city(place: str | None, directory: Directory) -> str | None:
    """The listed city next to ``place`` (content/specialists.yml, ``nearby``), if any."""
    return directory.nearby.get(_normalise(place or ""))


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z ]", " ", text.lower()).strip()


def resolve_city(text: str, directory: Directory) -> str | None:
    """The directory city meant by ``text`` ("new delhi", "near Rudrapur", "kolkatta"), if any."""
    words = _normalise(text)
    known = {c.lower(): c for c in directory.cities}
    for alias, city in sorted(directory.city_aliases.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{re.escape(alias)}\b", words):
            return city
    for word in words.split():
        if word in known:
            return known[word]
        close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.8)
        if close:
            return known[close[0]]
    return None


# "rudrapur is far yaar", "he is in rudrapur no? too far": a city the patient turns away from
_CALLED_FAR = r"\W+(?:\w+\W+){0,3}?(?:too |very |so |quite )?far\b"


def asked_city(text: str, directory: Directory) -> str | None:
    """The listed city asked about: with several named, not one the patient calls far ("rudrapur
    is far, anyone in delhi?"), else the first named."""
    words = _normalise(text)
    named = [c for c in directory.cities if re.search(rf"\b{c.lower()}\b", words)]
    if len(named) > 1:
        far = [re.search(rf"\b{c.lower()}{_CALLED_FAR}", words) for c in named]
        near = [c for c, m in zip(named, far, strict=True) if not m or "not far" in m.group(0)]
        if near and len(near) < len(named):
            return min(near, key=lambda c: words.index(c.lower()))
    return resolve_city(text, directory)


def find_by_name(text: str, directory: Directory) -> List[Specialist]:
    """Specialists whose name matches ``text`` ("Dr Bhati", "mediratta", "sunit")."""
    tokens = _normalise(text).split()
    words = [
        w
        for i, w in enumerate(tokens)
        if w not in {"dr", "doctor"} and len(w) >= 3
        # "Dr Singh" is a name; "I am Harpreet Singh" is not
        and (w not in NOT_NAMES or (i > 0 and tokens[i - 1] in {"dr", "doctor"}))
    ]
    found = []
    for specialist in directory.specialists:
        names = specialist.name_words
        if any(difflib.get_close_matches(w, names, n=1, cutoff=0.8) for w in words):
            found.append(specialist)
    return found


def sort_specialists(specialists: Sequence[Specialist], order: str) -> List[Specialist]:
    """``experience`` (most first), ``fee`` (cheapest listed fee first; unlisted last) or
    ``recommendation`` (highest first; unlisted last)."""
    if order == "experience":
        return sorted(specialists, key=lambda s: -s.experience_years)
    if order == "fee":
        return sorted(specialists, key=lambda s: (not s.fees, min(s.fees) if s.fees else 0))
    if order in ("recommendation", "patients"):
        return sorted(
            specialists,
            key=lambda s: (order_value(s, order) is None, -(order_value(s, order) or 0)),
        )
    raise ValueError(f"unknown order {order!r}")


def under_fee(
    specialists: Sequence[Specialist], limit: int, strict: bool = False
) -> List[Specialist]:
    """Specialists whose lowest listed fee is at most ``limit`` (below it when ``strict``), as
    "the cheapest" counts it; their cards then show every figure, since the page does not say
    what two figures mean. Unlisted fees never qualify."""
    return [s for s in specialists if s.fees and min(s.fees) < limit + (not strict)]


def format_fees(specialist: Specialist) -> str:
    """The figures the card shows. The page labels none of them, so two are never shown as a
    range ("₹2,500 – ₹2,500" read as a price range): each is named, and that what each covers is
    not listed."""
    fees = specialist.fees
    if not fees:
        return NOT_LISTED
    if len(fees) == 1:
        return f"₹{fees[0]:,}"
    if len(set(fees)) == 1:
        return f"₹{fees[0]:,} (shown {len(fees)} times; what each covers is not listed)"
    return " and ".join(f"₹{fee:,}" for fee in fees) + " (what each covers is not listed)"


def location(specialist: Specialist) -> str:
    """Hospital and city once: the page's "Apollo Multispeciality Hospitals , Kolkata, Kolkata"
    with its stray space and repeated city dropped (the city is named only if missing)."""
    parts: List[str] = []
    for part in (p.strip() for p in specialist.hospital.split(",")):
        if part and (not parts or parts[-1] != part):
            parts.append(part)
    if specialist.city not in parts:
        parts.append(specialist.city)
    return ", ".join(parts)


def format_recommendation(specialist: Specialist) -> str:
    if specialist.recommendation_percent is None:
        return NOT_LISTED
    return f"{specialist.recommendation_percent}% ({specialist.patients} Patients)"


def card_payload(specialist: Specialist) -> Dict[str, Any]:
    """One card of the ``specialist_cards`` custom payload (rich channels)."""
    return {
        "id": specialist.id,
        "name": specialist.name,
        "specialty": specialist.specialty,
        "experience": f"{specialist.experience_years} Years",
        "qualifications": specialist.qualifications,
        "city": specialist.city,
        "hospital": specialist.hospital,
        "location": location(specialist),
        "recommendation": format_recommendation(specialist),
        "fees": format_fees(specialist),
        "no_booking_fees": specialist.no_booking_fees,
    }


def card_text(specialist: Specialist) -> str:
    """The readable version of a card, for channels that cannot render cards."""
    lines = [
        f"{specialist.name}, {specialist.specialty}",
        f"{specialist.experience_years} years • {specialist.qualifications}",
        location(specialist),
        f"Recommendation: {format_recommendation(specialist)}",
        f"Fees: {format_fees(specialist)}"
        + (" • No Booking Fees" if specialist.no_booking_fees else ""),
    ]
    return "\n".join(lines)


# --- understanding a search request -------------------------------------------------------

ORDERS = {
    # first: "the most patients" decides even when "experience" is also said
    "patients": r"(?:most|more|highest|maximum|max|largest|biggest|greatest) (?:number of )?"
    r"patients?\b",
    "experience": r"most experienced|more experienced|less experienced|least experienced|"
    r"experi[ae]nced|experi[ae]nce|senior(?:\s?most)?|junior(?:\s?most)?|years|"
    r"practi[cs]\w* (?:the |for the )?longest|longest",
    "fee": r"cheap\w*|sast[aeio]|kam (?:fee|fees)|low(?:est)? (?:fee|cost|price)|least expensive|"
    r"afford\w*|budget|"
    r"less expensive|lowest|costliest|most expensive|expensive|highest fee\w*|priciest|costly|"
    r"charg\w* (?:the )?(?:least|most|lowest|highest|less|more)|"
    r"(?:least|lowest|minimum|highest|maximum|max|min) (?:(?:consultation|consulting|consult|opd|"
    r"visit) )?(?:fee|charge|cost)\w*",
    # a bare "patients" ("best rating from patients") does not decide the order: see parse_request
    "recommendation": r"recommend\w*|best rated|highest rated|top rated|rating|best|popular|"
    r"highly rated|rated (?:the )?(?:highest|best|top|most)",
}
# The other end of an order: "the least experienced", "the most expensive".
_REVERSED = {
    "experience": r"least|less experienced|junior|fewest|youngest|newest|minimum experience",
    "fee": r"costliest|costlier|most expensive|expensive|highest|priciest|costly|maximum fee|"
    r"charg\w* (?:the )?(?:most|more)",
}
ORDER_LABELS = {
    "experience": "most experienced first",
    "fee": "lowest listed fee first",
    "recommendation": "highest recommendation first",
    "patients": "most patients first",
}
# "the cheapest", "who is the most experienced": the winner (and ties), not a sorted list.
_SUPERLATIVE = re.compile(
    r"\b(?:most|(?<!at )least|best|top|highest|lowest|cheapest|costliest|priciest|senior\s?most|"
    r"junior\s?most|youngest|newest|maximum|minimum|number one|no\.? ?1|fewest|longest|largest|"
    r"biggest|greatest|sabse|sab se)\b",
    re.IGNORECASE,
)
# "which one is cheaper" among those a filter leaves: the winner, as a superlative asks
_WHICH_COMPARED = re.compile(
    r"\b(?:which|who)\b[^.?!]{0,25}\b(?:cheaper|costlier|more expensive|less expensive)\b",
    re.IGNORECASE,
)
# "20 years", "15+ yrs", "10 saal" (after the number)
YEARS = r"\s*\+?\s*(?:years?|yrs?|saal)"
_MIN_YEARS = re.compile(
    rf"(?:(more than|over|above|greater than|at least|atleast|minimum|min\.?|>=?)\s*(\d{{1,2}})"
    rf"{YEARS})|(?:(\d{{1,2}})\s*\+\s*(?:years?|yrs?))",
    re.IGNORECASE,
)
# "15 saal se zyada": more than that many (Hinglish puts the comparison after the number)
_MORE_YEARS_AFTER = re.compile(
    rf"(\d{{1,2}}){YEARS}\s*(?:se|say)\s*(?:zyada|jyada|zada|jada|adhik|upar|jyaada|zyaada)\b",
    re.IGNORECASE,
)
# "doctors having 20 years experience": at least that many
_HAS_YEARS = re.compile(
    rf"\b(?:with|having|has|have|of)\s+(\d{{1,2}}){YEARS}(?:\s+(?:of\s+)?experience|\s+exp)",
    re.IGNORECASE,
)
# "100 percent rating", "at least 90% recommended": a floor on the card's recommendation
_MIN_RATING = re.compile(
    r"(\d{2,3})\s*(?:%|percent|per cent)\s*(?:patient\s+)?(?:rating|recommend\w*|rated|positive)|"
    r"(?:rating|recommend\w*|rated)\s+(?:of\s+|above\s+|over\s+|at least\s+)?"
    r"(\d{2,3})\s*(?:%|percent)",
    re.IGNORECASE,
)
# "who also has a patient rating shown": only cards that show a recommendation
_RATING_LISTED = re.compile(
    r"\b(?:has|have|having|with|shows?)\s+(?:a\s+|any\s+)?(?:patient\s+|patients'?\s+)?"
    r"(?:rating|recommendation)s?\b(?!\s+(?:of|above|over)\b)|"
    r"\b(?:rating|recommendation)s?\s+(?:shown|listed|given)\b",
    re.IGNORECASE,
)
_MAX_YEARS = re.compile(
    rf"(less than|under|below|fewer than|at most|up to|upto|maximum|max\.?|<=?)\s*(\d{{1,2}})"
    rf"{YEARS}",
    re.IGNORECASE,
)
_MAX_FEE = re.compile(
    r"(under|below|less than|lesser than|within|upto|up to|max(?:imum)?|not more than|<=?)\s*"
    r"(?:₹|rs\.?|inr|rupees)?\s*(\d[\d,]*)(?![\d,])(?!\s*\+?\s*(?:years?|yrs?|saal|%))",
    re.IGNORECASE,
)
# "fee 1000 or less", "2000 tak", "1500 se kam": the limit written after the number (kept in)
_MAX_FEE_AFTER = re.compile(
    r"(?:₹|rs\.?|inr)?\s*(\d[\d,]*)\s*(?:rs\.?|rupees|₹|/-)?\s*"
    r"(?:or less|or lesser|or below|or under|and below|and less|max(?:imum)?|tak|se kam)\b",
    re.IGNORECASE,
)
# Words that are close to a doctor's name but are not one: "bhai" (brother) is one letter from
# "Bhati"; "Singh" is in many patients' own names.
NOT_NAMES = {"bhai", "bhaiya", "bhaiyya", "singh"}
# Qualifications a patient may look for, as the cards write them.
QUALIFICATIONS = {
    "MCh": r"\bm\.?\s?ch\b",
    "DrNB": r"\bdrnb\b",
    "DNB": r"\bdnb\b",
    "MNAMS": r"\bmnams\b",
    "Neuroendoscopy": r"neuro\s?endoscop\w*|\bfellow(?:ship)?\b",
    "MS": r"\bm\.?s\b(?! ?office)",
}
_NO_BOOKING_FEE = re.compile(
    r"\b(?:no|without|zero|free of|nil|don'?t charge|do not charge|dont take|don'?t take)\s+"
    r"(?:an?\s+|any\s+)?booking (?:fee|charge|amount)"
)
# A listed city the patient cannot reach: "delhi is too far", "travelling to delhi is difficult"
_TOO_FAR = re.compile(
    r"\b(?:too far|very far|far away|is far|bahut (?:door|dur)|"
    r"(?:travel\w*|going|coming|come|go|reach\w*) (?:to|till|upto) [a-z]+(?: [a-z]+)? "
    r"(?:is |will be |would be )?(?:very |too |bit |a bit )?(?:difficult|hard|tough|not possible)|"
    r"(?:cannot|can'?t|cant|unable to|(?:don'?t|dont|do not) want to) (?:travel|come|go|fly)\b)"
)
_PLACE_AFTER = re.compile(r"\b(?:in|near|at|around|from)\s+([A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+)?)")


@dataclass(frozen=True)
class SearchRequest:
    city: str | None = None  # a directory city
    other_place: str | None = None  # a place the user named that has no listed specialist
    names: Tuple[str, ...] = ()  # ids of specialists named in the message
    order: str | None = None
    max_fee: int | None = None

    refers_to_shown: bool = False  # "which of these ...", "among them"
    best_only: bool = False  # a superlative: the winner and ties only
    reverse: bool = False  # the other end of the order ("least experienced", "costliest")
    min_years: int | None = None  # experience of at least this many years
    max_years: int | None = None  # experience of at most this many years
    qualification: str | None = None  # a key of QUALIFICATIONS
    hospital: str | None = None  # a word of the hospital's name ("Indraprastha")
    no_booking_fee: bool = False  # only cards that say "No Booking Fees"
    min_rating: int | None = None  # a recommendation of at least this many percent
    rating_listed: bool = False  # only cards that show a recommendation
    fee_below: bool = False  # max_fee itself is excluded ("under 1000")
    not_city: str | None = None  # a directory city the user wants none of ("outside delhi")

    @property
    def refines(self) -> bool:
        """A sort or filter of the doctors just shown ("which of these is cheapest?")."""
        return self.refers_to_shown and not (self.city or self.other_place or self.names)

    @property
    def filters(self) -> bool:
        """Asks for doctors by a property, not by name."""
        return bool(
            self.order
            or self.max_fee is not None
            or self.min_years is not None
            or self.max_years is not None
            or self.qualification
            or self.hospital
            or self.no_booking_fee
            or self.min_rating is not None
            or self.rating_listed
            or self.not_city
        )


def _years(text: str) -> Tuple[int | None, int | None, bool]:
    """(at least, at most, whether the floor is only someone "having" that many years)."""
    low = high = None
    had = False
    match = _MIN_YEARS.search(text)
    if match:
        if match.group(3):
            low = int(match.group(3))
        else:
            value = int(match.group(2))
            strict = match.group(1).lower() in ("more than", "over", "above", "greater than", ">")
            low = value + 1 if strict else value
    elif (after := _MORE_YEARS_AFTER.search(text)) is not None:
        low = int(after.group(1)) + 1
    elif (bare := _HAS_YEARS.search(text)) is not None:
        low = int(bare.group(1))
        had = True
    match = _MAX_YEARS.search(text)
    if match:
        value = int(match.group(2))
        strict = match.group(1).lower() in ("less than", "under", "below", "fewer than", "<")
        high = value - 1 if strict else value
    return low, high, had


def _hospital_word(text: str, directory: Directory) -> str | None:
    """A distinctive word of a listed hospital's name ("indraprastha", "katyayani")."""
    common = {"apollo", "hospital", "hospitals", "medical", "center", "centre", "dr", "mayank"}
    common |= {c.lower() for c in directory.cities}
    words = set(_normalise(text).split())
    for specialist in directory.specialists:
        for word in _normalise(specialist.hospital).split():
            if len(word) > 5 and word not in common and word in words:
                return word
    return None


def parse_request(text: str, place_entities: Sequence[str], directory: Directory) -> SearchRequest:
    """What the user asked for: a city (fuzzy, aliases), a doctor's name, a sort or the best of
    one, a fee or experience limit, a qualification, a hospital. ``place_entities`` are the city
    names the NLU found (any Indian city it knows)."""
    text = text or ""
    lowered = text.lower()
    max_fee = None
    fee_below = False
    fee_match = _MAX_FEE.search(text)
    if fee_match:
        max_fee = int(fee_match.group(2).replace(",", ""))
        # "under 1000" leaves 1000 out; "within" and "up to" keep it
        fee_below = fee_match.group(1).lower() in (
            "under",
            "below",
            "less than",
            "lesser than",
            "<",
        )
    elif (after := _MAX_FEE_AFTER.search(text)) is not None:
        max_fee = int(after.group(1).replace(",", ""))
    rating_match = _MIN_RATING.search(text)
    min_rating = int(rating_match.group(1) or rating_match.group(2)) if rating_match else None
    min_years, max_years, years_had = _years(text)
    found = {
        o: m.start()
        for o, pattern in ORDERS.items()
        if (m := re.search(rf"\b(?:{pattern})\b", lowered)) is not None
    }
    # "most patients" decides; else what is asked first ("who is the most expensive one, i
    # assume he is the senior most" asks the fee; the seniority is the patient's guess)
    orders = sorted(found, key=lambda o: (o != "patients", found[o]))
    order = orders[0] if orders else None
    winner = bool(_SUPERLATIVE.search(lowered) or _WHICH_COMPARED.search(lowered))
    if order == "experience" and (min_years is not None or max_years is not None) and winner:
        # "the cheapest in delhi with more than 15 years": the years filter, the fee orders
        order = next((o for o in orders if o != "experience"), order)
    if order is None and re.search(r"\bpatients\b", lowered):
        order = "patients"
    if max_fee is not None and order == "fee" and not re.search(r"cheap|lowest", lowered):
        order = None  # "fee under 1000" is a filter, not a request to sort
    if order == "experience" and (min_years is not None or max_years is not None):
        if not _SUPERLATIVE.search(lowered):
            order = None  # "more than 15 years" is a filter
        elif years_had:
            # "our local surgeon has 25 years experience. who is your most experienced?": the
            # years someone has are background to a superlative, not a floor
            min_years = None
    if order == "recommendation" and min_rating is not None and not _SUPERLATIVE.search(lowered):
        order = None  # "100 percent rating" is a filter
    reverse = bool(order in _REVERSED and re.search(rf"\b(?:{_REVERSED[order]})\b", lowered))
    best_only = bool(order and winner)
    qualification = next(
        (q for q, pattern in QUALIFICATIONS.items() if re.search(pattern, lowered)), None
    )
    names = tuple(s.id for s in find_by_name(text, directory))
    city = asked_city(text, directory)
    for place in place_entities:
        city = city or resolve_city(place, directory)
    hospital = _hospital_word(text, directory)
    # "which doctors are outside delhi": every city but the one named
    not_city = None
    excluded = _NOT_IN_PLACE.search(text)
    if excluded and city and resolve_city(excluded.group(1), directory) == city:
        not_city, city = city, None
    other = None
    if city and not names and _TOO_FAR.search(lowered):
        # "i am in haldwani, delhi is too far": the patient's own place is the one asked about
        elsewhere = [p for p in place_entities if p and resolve_city(p, directory) is None]
        if elsewhere:
            city, other = None, elsewhere[0]
    if other is None and city is None and not names and hospital is None and not_city is None:
        other = next((p for p in place_entities if p), None)
        if other is None:
            after = _PLACE_AFTER.search(text)
            if after and after.group(1).lower() not in {"the", "my", "a", "dr", "doctor"}:
                other = after.group(1)
    if len(names) == len(directory.specialists):
        names = ()  # a generic word matched every name: not a name search
    refers = bool(
        re.search(
            r"\b(which one|which of|of these|of them|of those|among|these|them|"
            r"those|this list|out of)\b",
            lowered,
        )
    )
    return SearchRequest(
        city,
        other.title() if other else None,
        names,
        order,
        max_fee,
        refers,
        best_only,
        reverse,
        min_years,
        max_years,
        qualification,
        hospital,
        bool(_NO_BOOKING_FEE.search(lowered)),
        min_rating,
        bool(_RATING_LISTED.search(text)),
        fee_below,
        not_city,
    )


# Follow-ups that point past the doctor in view, read by the NLU (to route them) and by the
# detail action (to resolve them): "and the other one?" (the doctor shown before) and "any other
# doctor at that same hospital?" (that doctor's colleagues).
THE_OTHER = re.compile(r"\b(?:the|that) other (?:one|doctor|dr|surgeon)\b|\bother one\b", re.I)
SAME_HOSPITAL = re.compile(r"\bsame (?:hospital|clinic|place)\b", re.IGNORECASE)
# "the first doctor you said": the first one of the conversation, not of the cards in view
FIRST_SAID = re.compile(
    r"\bfirst (?:one|doctor|dr|surgeon|name)?\s*(?:that |which |who )?(?:you|u) "
    r"(?:said|mentioned|told|named|showed|suggested|gave|recommended|listed)\b",
    re.IGNORECASE,
)

_NOT_IN_PLACE = re.compile(
    r"\b(?:outside(?: of)?|other than|except(?: in)?|apart from|besides|excluding|not in|"
    r"beyond|away from)\s+([a-z]+)",
    re.IGNORECASE,
)


def order_value(specialist: Specialist, order: str) -> float | None:
    """What a doctor is ranked by (``None``: the card does not show it)."""
    if order == "experience":
        return float(specialist.experience_years)
    if order == "fee":
        return float(min(specialist.fees)) if specialist.fees else None
    if order == "recommendation":
        return specialist.recommendation_percent
    if order == "patients":
        digits = re.sub(r"\D", "", specialist.patients or "")
        return float(digits) if digits else None
    raise ValueError(f"unknown order {order!r}")


def winners(
    specialists: Sequence[Specialist], order: str, reverse: bool = False
) -> List[Specialist]:
    """The best by ``order`` and everyone tied with them; doctors whose card does not show the
    value never win. Fees: the lowest listed figure counts for "cheapest", the highest for
    "most expensive"."""

    def value(s: Specialist) -> float | None:
        if order == "fee" and reverse and s.fees:
            return float(max(s.fees))
        return order_value(s, order)

    known = [(s, v) for s, v in ((s, value(s)) for s in specialists) if v is not None]
    if not known:
        return []
    lowest_first = (order == "fee") != reverse
    values = [v for _, v in known]
    best = min(values) if lowest_first else max(values)
    return [s for s, v in known if v == best]


@dataclass(frozen=True)
class SearchResult:
    specialists: List[Specialist]
    request: SearchRequest
    no_fee_listed: List[Specialist]  # excluded by a fee filter because the card shows no fee
    not_shown: List[Specialist] = ()  # type: ignore[assignment]  # a best-of whose card lacks it
    from_shown: bool = False  # chosen among the doctors just shown


def search(request: SearchRequest, directory: Directory, shown: Sequence[str] = ()) -> SearchResult:
    by_id = {s.id: s for s in directory.specialists}
    from_shown = False
    if request.names:
        pool = [by_id[i] for i in request.names]
    elif request.refers_to_shown and shown and not request.other_place:
        # "which of them are in delhi": the doctors just shown, then the request's filters
        pool = [by_id[i] for i in shown if i in by_id]
        if request.city:
            pool = [s for s in pool if s.city == request.city]
        from_shown = True
    elif request.city:
        pool = [s for s in directory.specialists if s.city == request.city]
    elif request.other_place:
        pool = []
    else:
        pool = list(directory.specialists)
    if request.not_city:
        pool = [s for s in pool if s.city != request.not_city]
    if request.hospital:
        pool = [s for s in pool if request.hospital in _normalise(s.hospital).split()]
    if request.no_booking_fee:
        pool = [s for s in pool if s.no_booking_fees]
    if request.qualification:
        pattern = QUALIFICATIONS[request.qualification]
        pool = [s for s in pool if re.search(pattern, s.qualifications.lower())]
    if request.min_years is not None:
        pool = [s for s in pool if s.experience_years >= request.min_years]
    if request.min_rating is not None:
        pool = [s for s in pool if (s.recommendation_percent or 0) >= request.min_rating]
    if request.rating_listed:
        pool = [s for s in pool if s.recommendation_percent is not None]
    if request.max_years is not None:
        pool = [s for s in pool if s.experience_years <= request.max_years]
    no_fee: List[Specialist] = []
    if request.max_fee is not None:
        no_fee = [s for s in pool if not s.fees]
        pool = under_fee(pool, request.max_fee, request.fee_below)
        if not request.order:
            pool = sort_specialists(pool, "fee")  # within a budget, the cheapest first
    not_shown: List[Specialist] = []
    if request.order and request.best_only:
        not_shown = [s for s in pool if order_value(s, request.order) is None]
        pool = winners(pool, request.order, request.reverse)
    elif request.order:
        pool = sort_specialists(pool, request.order)
        if request.reverse:
            listed = [s for s in pool if order_value(s, request.order) is not None]
            pool = listed[::-1] + [s for s in pool if s not in listed]
    return SearchResult(pool, request, no_fee, not_shown, from_shown)


BOOK_INTENT = "book_appointment"


def booking_payload(specialist_id: str | None = None, mode: str | None = None) -> str:
    """A quick-reply payload that starts the booking form with the doctor (and mode) chosen.
    Rasa reads ``/intent{json}`` payloads without running the NLU."""
    entities: Dict[str, str] = {}
    if specialist_id:
        entities["doctor_id"] = specialist_id
    if mode:
        entities["consult_mode"] = mode
    return f"/{BOOK_INTENT}" + (json.dumps(entities, separators=(",", ":")) if entities else "")


def short_name(specialist: Specialist) -> str:
    """The doctor's name as the card gives it: a shortened one ("Dr. Dwaipayan" for "Dr Debnath
    Dwaipayan") guesses which word is the family name."""
    return specialist.name


def card_buttons(specialist: Specialist) -> List[Dict[str, str]]:
    return [
        {"title": "Book online consultation", "payload": booking_payload(specialist.id, "online")},
        {
            "title": "Book hospital visit",
            "payload": booking_payload(specialist.id, "hospital_visit"),
        },
    ]


def cards_message(specialists: Sequence[Specialist], intro: str) -> Dict[str, Any]:
    """The whole reply for a list of specialists: readable text (every channel), the structured
    ``specialist_cards`` payload (rich channels) and quick replies to book."""
    text = "\n\n".join([intro, *(card_text(s) for s in specialists)])
    if len(specialists) == 1:
        buttons = card_buttons(specialists[0])
    else:
        buttons = [
            {"title": f"Book {short_name(s)}", "payload": booking_payload(s.id)}
            for s in specialists
        ]
    custom = {
        "type": "specialist_cards",
        "intro": intro,
        "text": text,
        "cards": [{**card_payload(s), "buttons": card_buttons(s)} for s in specialists],
    }
    return {"text": text, "custom": custom, "buttons": buttons}
