"""The actions that answer what QuestionFinder found: several questions, a quote from the guide,
follow-ups, and doctor follow-ups ("the cheaper one")."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.follow_ups import ActionFollowUp
from actions.questions import ActionAnswerFromGuide, ActionAnswerQuestions
from actions.specialists import ActionShowSpecialists, ActionSpecialistDetail
from tests.conftest import TrackerFactory


def _responses(dispatcher: CollectingDispatcher) -> List[str]:
    return [m.get("response") or "" for m in dispatcher.messages]


async def test_each_question_is_answered_in_order(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    parse = {
        "text": "how long is the cut and how many days in hospital? any doctor in kolkata",
        "questions": [
            {"text": "how long is the cut", "answer": "article/incision_size"},
            {"text": "how many days in hospital?", "answer": "article/hospital_stay"},
            {"text": "any doctor in kolkata", "answer": "find_specialist"},
        ],
    }
    events = await ActionAnswerQuestions().run(dispatcher, make_tracker(parse), domain)
    assert _responses(dispatcher) == [
        "utter_article/incision_size",
        "utter_article/hospital_stay",
        "utter_specialist_cards",
    ]
    assert "Dr. Gopal Achari" in dispatcher.messages[2]["cards_text"]
    assert events[0]["name"] == "specialist_ids"
    assert events[0]["value"] == ["gopal-achari"]


async def test_a_doctor_question_beside_a_guide_question_uses_its_own_words(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    parse = {
        "text": "what are the limitations. and pls tell doctor with consultation less than 700 rs",
        "questions": [
            {"text": "what are the limitations", "answer": "article/limitations"},
            {
                "text": "pls tell doctor with consultation less than 700 rs",
                "answer": "find_specialist",
            },
        ],
    }
    await ActionAnswerQuestions().run(dispatcher, make_tracker(parse), domain)
    assert _responses(dispatcher) == ["utter_article/limitations", "utter_specialist_cards"]
    cards = dispatcher.messages[1]["cards_text"]
    assert "Dr Mayank Nakipuria" in cards
    assert "Dr. Sunit Mediratta" not in cards


async def test_the_guide_is_quoted_with_its_section(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    passage = {
        "section": "Shorter Hospital Stay",
        "text": "Many MISS procedures ...",
        "similarity": 0.5,
    }
    await ActionAnswerFromGuide().run(dispatcher, make_tracker({"guide_passage": passage}), domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_guide_passage"
    assert message["section"] == "Shorter Hospital Stay"
    assert "{section}" in domain["responses"]["utter_guide_passage"][0]["text"]


def _history(answer: str) -> List[Dict[str, Any]]:
    return [
        {"event": "user", "text": "earlier question"},
        {"event": "bot", "metadata": {"utter_action": answer}},
        {"event": "user", "text": "the follow-up"},
    ]


@pytest.mark.parametrize(
    ("previous", "follow", "expected"),
    [
        (
            "utter_faq/activity_restrictions",
            {"kind": "term", "term": "discectomy"},
            ["utter_faq/activity_restrictions"],
        ),
        (
            "utter_article/discectomy",
            {"kind": "term", "term": "fusion"},
            ["utter_article/spinal_fusion"],
        ),
        (
            "utter_faq/fusion_success_rate",
            {"kind": "term", "term": "discectomy"},
            ["utter_not_in_guide_for", "utter_faq/fusion_success_rate"],
        ),
        ("utter_article/risk_nerve_damage", {"kind": "how_common"}, ["utter_no_figures"]),
        ("utter_article/benefits", {"kind": "how_common"}, ["utter_not_in_guide"]),
        # the guide's only success rate is fusion's
        ("utter_article/spinal_fusion", {"kind": "success"}, ["utter_faq/fusion_success_rate"]),
        ("utter_article/discectomy", {"kind": "success"}, ["utter_not_in_guide"]),
        ("utter_greet", {"kind": "success"}, ["utter_faq/fusion_success_rate"]),
        # a success question that names its procedure needs no previous answer
        (
            "utter_article/discectomy",
            {"kind": "success", "term": "fusion"},
            ["utter_faq/fusion_success_rate"],
        ),
        ("utter_greet", {"kind": "success", "term": "discectomy"}, ["utter_not_in_guide"]),
        (
            "utter_faq/physical_therapy",
            {"kind": "when_starts"},
            ["utter_article/recovery_overview"],
        ),
        ("utter_article/discectomy", {"kind": "when_starts"}, ["utter_clarify"]),
        # the condition the procedure just explained treats
        (
            "utter_article/laminectomy",
            {"kind": "condition_for"},
            ["utter_article/condition_stenosis"],
        ),
        ("utter_greet", {"kind": "condition_for"}, ["utter_article/conditions_treated"]),
    ],
)
async def test_follow_ups_resolve_against_the_previous_answer(
    make_tracker: TrackerFactory,
    dispatcher: CollectingDispatcher,
    domain: Dict[str, Any],
    previous: str,
    follow: Dict[str, str],
    expected: List[str],
) -> None:
    tracker = make_tracker({"follow_up": follow}, events=_history(previous))
    await ActionFollowUp().run(dispatcher, tracker, domain)
    assert _responses(dispatcher) == expected
    for name in expected:
        assert name in domain["responses"] or "/" in name


async def test_the_cheapest_names_the_winner_and_later_questions_refer_to_it(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    events = await ActionShowSpecialists().run(
        dispatcher, make_tracker({"text": "who is the cheapest doctor"}), domain
    )
    text = dispatcher.messages[0]["cards_text"]
    assert text.startswith("The lowest listed fee: Dr Mayank Nakipuria (₹500).")
    assert events[0]["value"] == ["mayank-nakipuria"]
    dispatcher.messages.clear()
    await ActionSpecialistDetail().run(
        dispatcher,
        make_tracker(
            {"text": "which hospital is he at?"}, slots={"specialist_ids": ["mayank-nakipuria"]}
        ),
        domain,
    )
    assert "Katyayani Medical Center, Rudrapur" in dispatcher.messages[0]["detail_text"]


@pytest.mark.parametrize(
    ("text", "shown", "expected", "absent"),
    [
        (
            "the second one, what is his fee",
            ["gopal-achari", "sunit-mediratta"],
            "Dr. Sunit Mediratta",
            "Achari",
        ),
        (
            "the cheaper one, how many years?",
            ["sunit-mediratta", "debnath-dwaipayan"],
            "Dr Debnath Dwaipayan: 9 years",
            "Mediratta",
        ),
        (
            "the delhi one, what is his rating",
            ["gopal-achari", "sunit-mediratta"],
            "Dr. Sunit Mediratta: recommendation not listed",
            "Achari",
        ),
        ("does dr achari do online consultation", [], "not listed on the card", "Bhati"),
        (
            "which of these two has more experience",
            ["aditendraditya-singh-bhati", "mayank-nakipuria"],
            "Dr. Aditendraditya Singh Bhati: 18 years",
            "Nakipuria",
        ),
        (
            "between him and dr bhati who has more years of experience",
            ["sunit-mediratta"],
            "Dr. Sunit Mediratta: 20 years",
            "Bhati",
        ),
    ],
)
async def test_doctor_follow_ups(
    make_tracker: TrackerFactory,
    dispatcher: CollectingDispatcher,
    domain: Dict[str, Any],
    text: str,
    shown: List[str],
    expected: str,
    absent: str,
) -> None:
    tracker = make_tracker({"text": text}, slots={"specialist_ids": shown})
    await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert expected in message["detail_text"]
    assert absent not in message["detail_text"]


async def test_a_search_with_no_match_says_so_plainly(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    await ActionShowSpecialists().run(
        dispatcher, make_tracker({"text": "doctors with more than 25 years experience"}), domain
    )
    [message] = dispatcher.messages
    assert message["response"] == "utter_no_specialist_match"
    assert message["criteria"] == "at least 26 years of experience"


@pytest.mark.parametrize(
    ("text", "first"),
    [
        (
            "which of them has a patient rating shown",
            "The card of Dr. Aditendraditya Singh Bhati shows a patient rating.\n"
            "Dr. Aditendraditya Singh Bhati:",
        ),
        (
            "who among these has no booking fees",
            'The card of Dr. Sunit Mediratta says "No Booking Fees".\nDr. Sunit Mediratta:',
        ),
    ],
)
async def test_which_of_them_has_a_detail_names_those_whose_card_shows_it_first(
    make_tracker: TrackerFactory,
    dispatcher: CollectingDispatcher,
    domain: Dict[str, Any],
    text: str,
    first: str,
) -> None:
    shown = ["gopal-achari", "sunit-mediratta", "aditendraditya-singh-bhati"]
    if "booking" in text:
        shown = ["gopal-achari", "debnath-dwaipayan", "sunit-mediratta"]
    tracker = make_tracker({"text": text}, slots={"specialist_ids": shown})
    await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["detail_text"].startswith(first), message["detail_text"]


async def test_a_comparison_after_one_winner_compares_the_two_before_it(
    make_tracker: TrackerFactory, dispatcher: CollectingDispatcher, domain: Dict[str, Any]
) -> None:
    """Two doctors shown, "which of the two is more experienced" left one in view: "and the
    cheaper one?" is still the cheaper of the two."""
    events = [
        {
            "event": "slot",
            "name": "specialist_ids",
            "value": ["sunit-mediratta", "debnath-dwaipayan"],
        },
        {"event": "slot", "name": "specialist_ids", "value": ["sunit-mediratta"]},
    ]
    tracker = make_tracker(
        {"text": "and the cheaper one?"},
        slots={"specialist_ids": ["sunit-mediratta"]},
        events=events,
    )
    await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["detail_text"].startswith("Dr Debnath Dwaipayan"), message["detail_text"]
