"""Model quality on messages the model never saw (tests/nlu/holdout.yml), with the seeded model."""
from __future__ import annotations

from typing import Any, Dict

import pytest

from spine_content.topics import topic_titles
from spine_nlu import triage_eval
from spine_nlu.evaluate import DEFAULT_HOLDOUT, Report, load_examples, predicted_label

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
async def report(agent: Any) -> Report:
    result = Report()
    for text, expected in load_examples(DEFAULT_HOLDOUT):
        result.add(text, expected, predicted_label(await agent.parse_message(text)))
    print(result.format())
    return result


# Floors about two points under the seeded model's 0.963 / 0.947 (bench/levers.md):
# a change that costs more than seed noise fails here before it reaches the benchmark.
def test_held_out_response_accuracy_is_at_least_93_percent(report: Report) -> None:
    assert report.response_total >= 150
    assert report.response_accuracy >= 0.93, report.format()


def test_held_out_intent_accuracy_is_at_least_94_percent(report: Report) -> None:
    assert report.intent_accuracy >= 0.94, report.format()


def test_out_of_scope_is_never_answered_from_the_article(report: Report) -> None:
    wrong = [e for e in report.errors if e[1] == "out_of_scope" and "/" in e[2]]
    assert not wrong, wrong


@pytest.mark.parametrize("key", sorted(topic_titles()))
async def test_every_quick_reply_payload_selects_its_answer(agent: Any, key: str) -> None:
    parse = await agent.parse_message(f"topic:{key}")
    assert predicted_label(parse) == key


@pytest.mark.parametrize("text", ["topic:faq/nonexistent", "asdfgh qwerty", "?"])
async def test_gibberish_and_bad_payloads_fall_back(agent: Any, text: str) -> None:
    parse = await agent.parse_message(text)
    assert predicted_label(parse) in ("nlu_fallback", "out_of_scope")


@pytest.mark.parametrize(
    "text",
    ["what are the chances my fusion will work", "will smoking affect the success of my fusion"],
)
async def test_a_success_question_naming_fusion_gets_its_rate_without_a_previous_answer(
    agent: Any, text: str
) -> None:
    # read as a follow-up, a first message got "the guide gives no figures", and after another
    # answer "not in the guide", although the guide gives fusion's success rate
    parse = await agent.parse_message(text)
    assert predicted_label(parse) == "faq/fusion_success_rate"
    assert parse["questions"] == [{"text": text, "answer": "faq/fusion_success_rate"}]


async def test_a_question_that_points_back_is_read_with_its_subject(agent: Any) -> None:
    # "what is that?" alone reads as "what is MISS"; the statement before it names the procedure
    text = (
        "the surgeon said i need a foraminotomy. what is that? and how long will i stay in hospital"
    )
    parse = await agent.parse_message(text)
    assert [q["answer"] for q in parse["questions"]] == [
        "article/laminectomy",
        "article/hospital_stay",
    ]


async def test_a_success_rate_the_page_does_not_give_is_not_answered_with_fusions(
    agent: Any,
) -> None:
    parse = await agent.parse_message("how successful is a laminectomy usually")
    assert predicted_label(parse) == "not_in_guide"
    text = "what is the success rate of discectomy and how long is the hospital stay"
    parse = await agent.parse_message(text)
    assert [q["answer"] for q in parse["questions"]] == ["not_in_guide", "article/hospital_stay"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a subject the page does not cover, where the message asks
        ("can keyhole surgery help my sacroiliac joint pain", "not_in_guide"),
        (
            "my uncle has ankylosing spondylitis since years. can keyhole surgery fix that",
            "not_in_guide",
        ),
        # ... and not when it is only mentioned beside a question the guide answers surely
        ("my brother sells insurance. what are the risks of MISS", "article/risks"),
        # a subject the page touches (it treats certain spinal fractures)
        (
            "my aunt has an osteoporosis fracture in her lower spine, can keyhole surgery fix it",
            "article/condition_fracture",
        ),
    ],
)
async def test_a_subject_the_guide_does_not_cover(agent: Any, text: str, expected: str) -> None:
    assert predicted_label(await agent.parse_message(text)) == expected


async def test_the_one_question_naming_a_listed_doctor_is_a_doctor_query(agent: Any) -> None:
    # what follows the question is background; read whole, the words resemble the hospital-stay
    # answer
    text = "dr sunit mediratta works at which hospital exactly? we will come from meerut"
    assert predicted_label(await agent.parse_message(text)) == "ask_specialist_detail"


def test_each_message_is_right_a_clarifying_question_or_a_wrong_answer() -> None:
    counted = Report()
    counted.add("how long is recovery", "faq/recovery_time", "faq/recovery_time")  # right
    counted.add("what's the weather", "out_of_scope", "nlu_fallback")  # right: no answer given
    counted.add("recovery?", "faq/recovery_time", "nlu_fallback")  # asked what was meant
    counted.add("how big is the cut", "faq/incision_size", "faq/recovery_time")  # wrong answer
    counted.add("hi there", "greet", "out_of_scope")  # wrong: told it is off-topic
    assert (counted.label_correct, counted.clarified, counted.wrong_answers) == (2, 1, 2)
    assert "right / clarifying question / wrong answer: 2 / 1 / 2" in counted.format()


@pytest.fixture(scope="module")
async def triage(agent: Any) -> Dict[str, triage_eval.TriageReport]:
    # The development part trains the classifier: a regression floor, checked here on a fixed
    # quarter of it (every fourth message) to stay inside CI's time; `make eval` replays all of it.
    reports = {
        part: await triage_eval.evaluate(agent, part, every=4 if part == "dev" else 1)
        for part in ("dev", "heldout")
    }
    for report in reports.values():
        print(report.format())
    return reports


# Replied to, or asked the triage question (with the numbers), at least; routine escalated at most.
# - dev: the development part trains the triage classifier (data/triage/), so these are regression
#   floors, not measurements (all 2,154 emergencies and 911 crises, 11 of 3,718 routine messages
#   escalated when last checked).
# - heldout: never tuned on; floors a little under what was measured when they were set
#   (emergency 196/196, crisis 84/84, routine 4/335 escalated; writers heldout11_*), so a change
#   that loses ground fails. They are not the bar (every emergency and crisis, at most 2 %
#   escalated); when one fails, fix what the development part shows, never the held-out wording.
FLOORS = {
    "dev": {"emergency": 0.98, "crisis": 0.98, "routine": 0.01},
    "heldout": {"emergency": 0.98, "crisis": 0.98, "routine": 0.02},
}


@pytest.mark.parametrize("part", ["dev", "heldout"])
@pytest.mark.parametrize("level", ["emergency", "crisis"])
def test_blind_triage_urgent_levels_hold_their_floor(
    triage: Dict[str, triage_eval.TriageReport], part: str, level: str
) -> None:
    covered, total = triage[part].covered(level)
    assert covered / total >= FLOORS[part][level], triage[part].format()


@pytest.mark.parametrize("part", ["dev", "heldout"])
def test_blind_triage_routine_escalations_hold_their_ceiling(
    triage: Dict[str, triage_eval.TriageReport], part: str
) -> None:
    escalated, total = triage[part].rate("routine")
    assert escalated / total <= FLOORS[part]["routine"], triage[part].format()
