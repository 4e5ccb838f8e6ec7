"""Pure helpers over the specialist directory (content/specialists.yml): search, sort, format.

No Rasa imports here: the custom actions (and later the WhatsApp channel and the staff console)
use these functions, and they are unit-tested on their own.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import yaml

from actions.content import CONTENT_DIR

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
    return Directory(specialists, aliases)


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


def find_by_name(text: str, directory: Directory) -> List[Specialist]:
    """Specialists whose name matches ``text`` ("Dr Bhati", "mediratta", "sunit")."""
    words = [w for w in _normalise(text).split() if w not in {"dr", "doctor"} and len(w) >= 3]
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
    if order == "recommendation":
        return sorted(
            specialists,
            key=lambda s: (s.recommendation_percent is None, -(s.recommendation_percent or 0)),
        )
    raise ValueError(f"unknown order {order!r}")


def under_fee(specialists: Sequence[Specialist], limit: int) -> List[Specialist]:
    """Specialists whose every listed fee is at most ``limit`` (unlisted fees never qualify)."""
    return [s for s in specialists if s.fees and max(s.fees) <= limit]


def format_fees(specialist: Specialist) -> str:
    if not specialist.fees:
        return NOT_LISTED
    return " – ".join(f"₹{fee:,}" for fee in specialist.fees)


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
        "recommendation": format_recommendation(specialist),
        "fees": format_fees(specialist),
        "no_booking_fees": specialist.no_booking_fees,
    }


def card_text(specialist: Specialist) -> str:
    """The readable version of a card, for channels that cannot render cards."""
    lines = [
        f"{specialist.name}, {specialist.specialty}",
        f"{specialist.experience_years} years • {specialist.qualifications}",
        f"{specialist.hospital} ({specialist.city})",
        f"Recommendation: {format_recommendation(specialist)}",
        f"Fees: {format_fees(specialist)}"
        + (" • No Booking Fees" if specialist.no_booking_fees else ""),
    ]
    return "\n".join(lines)
