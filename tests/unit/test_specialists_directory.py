"""Specialist directory: faithful to the page, searchable, formatted without invention."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

from spine_content.specialists_directory import (
    NOT_LISTED,
    SearchRequest,
    booking_payload,
    card_payload,
    card_text,
    cards_message,
    find_by_name,
    format_fees,
    load_directory,
    location,
    nearest_city,
    parse_request,
    resolve_city,
    search,
    short_name,
    sort_specialists,
    under_fee,
)

SOURCE = (Path(__file__).resolve().parents[2] / "content/source/miss_guide.txt").read_text()
DIRECTORY = load_directory()
BY_ID = {s.id: s for s in DIRECTORY.specialists}


def _first_card(name: str) -> str:
    """The page's first card block for ``name`` (cards start with "<name>, Neurosurgeon")."""
    blocks = re.split(r"\n(?=Dr\.? [^\n]+, Neurosurgeon\n)", SOURCE)
    block = next(b for b in blocks if b.startswith(f"{name}, Neurosurgeon"))
    return re.split(r"\n(?:Consult a Specialist|More articles|Top Benefits)", block)[0]


def test_five_unique_doctors_all_traceable_to_the_page() -> None:
    assert len(BY_ID) == 5
    for s in DIRECTORY.specialists:
        for text in (s.name, s.qualifications, s.hospital, f"{s.experience_years} Years"):
            assert text in SOURCE, (s.id, text)
        if s.recommendation_percent is not None:
            assert f"{s.recommendation_percent}%\n\n({s.patients} Patients)" in SOURCE
        card = _first_card(s.name)
        for fee in s.fees:
            assert f"\n{fee}\n" in card, (s.id, fee)
        assert ("No Booking Fees" in card) == s.no_booking_fees, s.id


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("neurosurgeons in new delhi", "Delhi"),
        ("delhii", "Delhi"),
        ("any doctor in Calcutta?", "Kolkata"),
        ("kolkatta", "Kolkata"),
        ("someone near Rudrapur", "Rudrapur"),
        ("Dilli mein doctor", "Delhi"),
        ("spine surgeon in Chennai", None),
        ("show me doctors", None),
    ],
)
def test_resolve_city(text: str, city: str | None) -> None:
    assert resolve_city(text, DIRECTORY) == city


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Dr Bhati", ["aditendraditya-singh-bhati"]),
        ("mediratta", ["sunit-mediratta"]),
        ("dr. medirata please", ["sunit-mediratta"]),
        ("book with Nakipuria", ["mayank-nakipuria"]),
        ("Dr Smith", []),
        # near a name but not one: "brother" in Hinglish, a patient's own surname
        ("bhai sabse experienced doctor kaun hai", []),
        ("i am harpreet singh from delhi", []),
        ("dr bhatti please", ["aditendraditya-singh-bhati"]),
        ("appointment with dr singh", ["aditendraditya-singh-bhati"]),
    ],
)
def test_find_by_name(text: str, ids: List[str]) -> None:
    assert [s.id for s in find_by_name(text, DIRECTORY)] == ids


def test_delhi_has_three_specialists() -> None:
    assert len([s for s in DIRECTORY.specialists if s.city == "Delhi"]) == 3
    assert DIRECTORY.cities == ["Delhi", "Kolkata", "Rudrapur"]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("which of your doctors are outside delhi?", ["gopal-achari", "mayank-nakipuria"]),
        ("a spine doctor other than delhi with fee under 1000", ["mayank-nakipuria"]),
        (
            "any doctor in delhi",
            ["aditendraditya-singh-bhati", "sunit-mediratta", "debnath-dwaipayan"],
        ),
    ],
)
def test_a_city_excluded_leaves_the_other_cities(text: str, ids: List[str]) -> None:
    result = search(parse_request(text, [], DIRECTORY), DIRECTORY)
    assert [s.id for s in result.specialists] == ids


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        # of two listed cities, not the one the patient calls far
        (
            "hmm rudrapur is far yaar. anyone in delhi under 2000?",
            ["aditendraditya-singh-bhati", "debnath-dwaipayan"],
        ),
        ("he is in rudrapur no? too far. any doctor in kolkata then", ["gopal-achari"]),
        ("kolkata is not far from us but delhi is far, any doctor in kolkata", ["gopal-achari"]),
        # what is asked comes before the patient's guess about it
        (
            "who is the most expensive one, i assume he is the senior most",
            ["sunit-mediratta"],
        ),
    ],
)
def test_what_the_patient_asks_for_among_several_things_named(text: str, ids: List[str]) -> None:
    result = search(parse_request(text, [], DIRECTORY), DIRECTORY)
    assert [s.id for s in result.specialists] == ids


def test_a_listed_city_the_patient_will_not_travel_to_is_not_the_one_asked_about() -> None:
    text = "any spine neurosurgeon on your panel here in guwahati? dont want to fly to delhi"
    request = parse_request(text, ["guwahati", "delhi"], DIRECTORY)
    assert (request.city, request.other_place) == (None, "Guwahati")


def test_sorting_and_fee_filter() -> None:
    everyone = list(DIRECTORY.specialists)
    assert {s.experience_years for s in sort_specialists(everyone, "experience")[:2]} == {20}
    assert sort_specialists(everyone, "fee")[0].id == "mayank-nakipuria"
    assert sort_specialists(everyone, "fee")[-1].id == "gopal-achari"  # no fee listed: last
    ranked = [s.id for s in sort_specialists(everyone, "recommendation")]
    assert ranked[:2] == ["mayank-nakipuria", "aditendraditya-singh-bhati"]
    # the lowest listed figure counts, as for "the cheapest" (Dr Bhati's card shows 1000 and 1500)
    assert {s.id for s in under_fee(everyone, 1000)} == {
        "mayank-nakipuria",
        "debnath-dwaipayan",
        "aditendraditya-singh-bhati",
    }
    assert {s.id for s in under_fee(everyone, 1000, strict=True)} == {"mayank-nakipuria"}
    with pytest.raises(ValueError, match="unknown order"):
        sort_specialists(everyone, "height")


def test_formatting_never_invents() -> None:
    # unlabelled figures are never a range
    assert format_fees(BY_ID["aditendraditya-singh-bhati"]) == (
        "₹1,000 and ₹1,500 (what each covers is not listed)"
    )
    assert format_fees(BY_ID["sunit-mediratta"]) == (
        "₹2,500 (shown 2 times; what each covers is not listed)"
    )
    assert format_fees(BY_ID["mayank-nakipuria"]) == "₹500"
    # the city once, the name as the card gives it
    assert location(BY_ID["gopal-achari"]) == "Apollo Multispeciality Hospitals, Kolkata"
    assert location(BY_ID["mayank-nakipuria"]) == (
        "Dr Mayank Nakipuria Katyayani Medical Center, Rudrapur"
    )
    assert short_name(BY_ID["debnath-dwaipayan"]) == "Dr Debnath Dwaipayan"
    achari = card_text(BY_ID["gopal-achari"])
    assert achari.count(NOT_LISTED) == 2
    assert "No Booking Fees" not in achari
    assert "No Booking Fees" in card_text(BY_ID["sunit-mediratta"])
    payload = card_payload(BY_ID["aditendraditya-singh-bhati"])
    assert payload["recommendation"] == "85% (100+ Patients)"
    assert payload["id"] == "aditendraditya-singh-bhati"


@pytest.mark.parametrize(
    ("text", "places", "expected"),
    [
        ("show me neurosurgeons in Delhi", [], SearchRequest(city="Delhi")),
        ("doctors in new delhi", ["new delhi"], SearchRequest(city="Delhi")),
        ("delhii doctors", [], SearchRequest(city="Delhi")),
        ("specialist in calcutta", ["calcutta"], SearchRequest(city="Kolkata")),
        ("kolkatta", [], SearchRequest(city="Kolkata")),
        ("surgeon near Rudrapur", ["rudrapur"], SearchRequest(city="Rudrapur")),
        ("any doctor in chennai?", ["chennai"], SearchRequest(other_place="Chennai")),
        ("doctor in Nagpur", [], SearchRequest(other_place="Nagpur")),
        ("Dr Bhati", [], SearchRequest(names=("aditendraditya-singh-bhati",))),
        ("mediratta", [], SearchRequest(names=("sunit-mediratta",))),
        ("most experienced surgeon", [], SearchRequest(order="experience", best_only=True)),
        ("cheapest doctor", [], SearchRequest(order="fee", best_only=True)),
        (
            "most recommended neurosurgeon",
            [],
            SearchRequest(order="recommendation", best_only=True),
        ),
        ("sort the doctors by experience", [], SearchRequest(order="experience")),
        ("who is the most expensive", [], SearchRequest(order="fee", best_only=True, reverse=True)),
        (
            "the junior most doctor",
            [],
            SearchRequest(order="experience", best_only=True, reverse=True),
        ),
        ("doctors with more than 15 years experience", [], SearchRequest(min_years=16)),
        ("at least 18 yrs experience in delhi", [], SearchRequest(city="Delhi", min_years=18)),
        ("surgeons with 20+ years", [], SearchRequest(min_years=20)),
        ("under 12 yrs experience", [], SearchRequest(max_years=11)),
        ("which doctors have an MCh", [], SearchRequest(qualification="MCh")),
        ("doctors at apollo indraprastha", [], SearchRequest(hospital="indraprastha")),
        ("doctors under ₹1000", [], SearchRequest(max_fee=1000, fee_below=True)),
        (
            "fees below rs 1,500 in delhi",
            [],
            SearchRequest(city="Delhi", max_fee=1500, fee_below=True),
        ),
        ("fee up to 1000", [], SearchRequest(max_fee=1000)),
        (
            "which doctor has the highest consultation fee",
            [],
            SearchRequest(order="fee", best_only=True, reverse=True),
        ),
        (
            "who has the fewest years of experience",
            [],
            SearchRequest(order="experience", best_only=True, reverse=True),
        ),
        (
            "the largest number of patients",
            [],
            SearchRequest(order="patients", best_only=True),
        ),
        ("which doctors have 20 years experience", [], SearchRequest(min_years=20)),
        (
            "delhi mein sabse experienced kaun hai",
            [],
            SearchRequest(city="Delhi", order="experience", best_only=True),
        ),
        (
            "which doctor has treated maximum number of patient",
            [],
            SearchRequest(order="patients", best_only=True),
        ),
        ("a doctor with 100 percent rating", [], SearchRequest(min_rating=100)),
        (
            "more than 15 years experience who also has a patient rating shown",
            [],
            SearchRequest(min_years=16, rating_listed=True),
        ),
        ("show me doctors", [], SearchRequest()),
        (
            "delhi me sabse sasta docter kaun hai",
            [],
            SearchRequest(city="Delhi", order="fee", best_only=True),
        ),
        (
            "kya koi docter hai jinka experience 15 saal se zyada ho",
            [],
            SearchRequest(min_years=16),
        ),
        (
            "which docter has seen the most patients, experience of many patients matters",
            [],
            SearchRequest(order="patients", best_only=True),
        ),
        (
            "which of these is cheapest?",
            [],
            SearchRequest(order="fee", refers_to_shown=True, best_only=True),
        ),
    ],
)
def test_parse_request(text: str, places: List[str], expected: SearchRequest) -> None:
    assert parse_request(text, places, DIRECTORY) == expected


def _ids(request: SearchRequest, shown: tuple = ()) -> List[str]:
    return [s.id for s in search(request, DIRECTORY, shown).specialists]


def test_search_results() -> None:
    assert len(_ids(SearchRequest())) == 5
    assert _ids(SearchRequest(city="Rudrapur")) == ["mayank-nakipuria"]
    assert _ids(SearchRequest(other_place="Chennai")) == []
    # Fee filter: the lowest listed fee at most the limit, cheapest first; unlisted fees never
    # qualify, and are reported.
    result = search(SearchRequest(max_fee=1000), DIRECTORY)
    assert [s.id for s in result.specialists] == [
        "mayank-nakipuria",
        "aditendraditya-singh-bhati",
        "debnath-dwaipayan",
    ]
    assert [s.id for s in result.no_fee_listed] == ["gopal-achari"]
    # "under 1000" leaves a fee of exactly 1000 out
    assert _ids(SearchRequest(max_fee=1000, fee_below=True)) == ["mayank-nakipuria"]
    assert _ids(SearchRequest(min_rating=100)) == ["mayank-nakipuria"]
    assert _ids(SearchRequest(min_years=16, rating_listed=True)) == ["aditendraditya-singh-bhati"]
    assert _ids(SearchRequest(order="fee"))[-1] == "gopal-achari"  # "not listed" sorts last
    assert _ids(SearchRequest(order="recommendation"))[:2] == [
        "mayank-nakipuria",
        "aditendraditya-singh-bhati",
    ]
    # "which of these ..." sorts the doctors just shown, not the whole directory
    shown = ("debnath-dwaipayan", "sunit-mediratta")
    refine = SearchRequest(order="experience", refers_to_shown=True)
    assert _ids(refine, shown) == ["sunit-mediratta", "debnath-dwaipayan"]


def test_cards_message_has_text_payload_and_booking_buttons() -> None:
    delhi = [s for s in DIRECTORY.specialists if s.city == "Delhi"]
    message = cards_message(delhi, "Here are the 3 listed specialists in Delhi:")
    custom = message["custom"]
    assert custom["type"] == "specialist_cards"
    assert custom["text"] == message["text"]
    assert len(custom["cards"]) == 3
    for card, specialist in zip(custom["cards"], delhi, strict=True):
        assert card["name"] in message["text"]
        assert [b["title"] for b in card["buttons"]] == [
            "Book online consultation",
            "Book hospital visit",
        ]
        assert card["buttons"][0]["payload"] == booking_payload(specialist.id, "online")
    assert [b["title"] for b in message["buttons"]] == [
        "Book Dr. Aditendraditya Singh Bhati",
        "Book Dr. Sunit Mediratta",
        "Book Dr Debnath Dwaipayan",
    ]
    # Names as the cards give them, whatever their length: WhatsApp gets its own list for cards
    # (channels/whatsapp.py), which clips to its limits.
    single = cards_message(delhi[:1], "intro")
    assert [b["title"] for b in single["buttons"]] == [
        "Book online consultation",
        "Book hospital visit",
    ]


def test_booking_payload_is_rasa_intent_syntax() -> None:
    assert booking_payload("sunit-mediratta", "online") == (
        '/book_appointment{"doctor_id":"sunit-mediratta","consult_mode":"online"}'
    )
    assert booking_payload() == "/book_appointment"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ties are all named; a card that does not show the value never wins
        ("who is the most experienced", ["gopal-achari", "sunit-mediratta"]),
        ("the least experienced doctor", ["debnath-dwaipayan"]),
        ("cheapest doctor", ["mayank-nakipuria"]),
        ("which doctor charges the least", ["mayank-nakipuria"]),
        ("who charges the most", ["sunit-mediratta"]),
        ("cheapest doctor in delhi", ["aditendraditya-singh-bhati", "debnath-dwaipayan"]),
        ("most expensive doctor", ["sunit-mediratta"]),
        ("best rated doctor", ["mayank-nakipuria"]),
        ("recommended by the most patients", ["aditendraditya-singh-bhati"]),
        (
            "more than 15 years of experience",
            ["gopal-achari", "aditendraditya-singh-bhati", "sunit-mediratta"],
        ),
        ("delhi doctor under 2000", ["aditendraditya-singh-bhati", "debnath-dwaipayan"]),
        ("who has done an mch", ["gopal-achari", "sunit-mediratta"]),
        ("fellowship in neuroendoscopy", ["aditendraditya-singh-bhati"]),
        ("more than 25 years of experience", []),
        ("among them who is rated highest", ["mayank-nakipuria"]),
        (
            "delhi doctor, atleast 15 yrs experience, fee 1000 or less. anyone?",
            ["aditendraditya-singh-bhati"],
        ),
        (
            "koi doctor 1000 tak",
            ["mayank-nakipuria", "aditendraditya-singh-bhati", "debnath-dwaipayan"],
        ),
        # the years someone has are background to a superlative
        (
            "our local surgeon has 25 years experience. in delhi who is your most experienced one",
            ["sunit-mediratta"],
        ),
        # ... but "doctors having 20 years experience" alone is a floor
        ("doctors having 20 years experience", ["gopal-achari", "sunit-mediratta"]),
    ],
)
def test_search_names_the_winner_and_ties(text: str, expected: List[str]) -> None:
    assert _ids(parse_request(text, [], DIRECTORY)) == expected


def test_a_best_of_reports_whose_card_lacks_the_value() -> None:
    result = search(parse_request("best rated doctor", [], DIRECTORY), DIRECTORY)
    assert {s.id for s in result.not_shown} == {
        "gopal-achari",
        "sunit-mediratta",
        "debnath-dwaipayan",
    }


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        (
            "sir which is cheapest doctor in delhi with more than 15 years experience",
            ["aditendraditya-singh-bhati"],
        ),
        ("most experienced doctor with fee under 3000", ["sunit-mediratta"]),
        (
            "who has the most experience among doctors with more than 15 years",
            ["gopal-achari", "sunit-mediratta"],
        ),
        # a comparative asked of what the filter leaves names its winner
        ("delhi doctors above 15 years, who is cheaper", ["aditendraditya-singh-bhati"]),
        ("over 15 yrs experience in delhi, which one is more expensive", ["sunit-mediratta"]),
    ],
)
def test_a_years_filter_leaves_the_order_to_the_other_word(text: str, ids: List[str]) -> None:
    result = search(parse_request(text, [], DIRECTORY), DIRECTORY)
    assert [s.id for s in result.specialists] == ids


@pytest.mark.parametrize(
    ("text", "places", "other"),
    [
        (
            "i am in haldwani uttarakhand, any spine doctor near my side? delhi is too far",
            ["Haldwani", "Delhi"],
            "Haldwani",
        ),
        (
            "any spine doctor from kochi? travelling to delhi is difficult in export season",
            ["Kochi", "Delhi"],
            "Kochi",
        ),
        # a listed city with nothing too far about it stays the request
        ("we live in kanpur but can come to delhi, who is there", ["Kanpur", "Delhi"], None),
    ],
)
def test_a_listed_city_too_far_leaves_the_patients_own_place(
    text: str, places: List[str], other: str | None
) -> None:
    request = parse_request(text, places, DIRECTORY)
    assert request.other_place == other
    assert (request.city is None) == (other is not None)


def test_a_town_next_to_a_listed_city_has_that_city_nearest() -> None:
    assert nearest_city("Haldwani", DIRECTORY) == "Rudrapur"
    assert nearest_city("Kochi", DIRECTORY) is None
