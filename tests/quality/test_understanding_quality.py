"""Patient-voice understanding (tests/understanding/): each item run as a conversation through the
trained model and the real action server, scored right / clarify / missed / wrong per question."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from spine_nlu import understanding_eval
from spine_nlu.understanding_eval import Reply, Scorer

pytestmark = pytest.mark.model


# The development part is a regression floor: the suite replays a fixed third of it (every
# third item) to stay inside CI's time, `make eval` replays all of it. The held-out part is
# always replayed whole.
SAMPLE = {"dev": 3}


@pytest.fixture(scope="module")
def reports(model_path: Path) -> Dict[str, understanding_eval.Report]:
    parts = ("dev", "heldout")
    found = {r.part: r for r in understanding_eval.reports(parts, model_path, every=SAMPLE)}
    for report in found.values():
        print(report.format())
    return found


# - dev: thresholds, NLU examples and doctor-query parsing were chosen on it, and its messages
#   train the triage classifier as routine: a regression floor, not a measurement (92.6 % right,
#   2.2 % wrong when set, 3,180 items).
# - heldout: never tuned on; floors a little under what was measured when they were set (93.6 %
#   right, 1.8 % wrong at the first print and with the round's changes; writers u30-u32), so a
#   change that loses ground fails.
FLOORS = {
    "dev": {"right": 0.91, "wrong": 0.03},
    "heldout": {"right": 0.91, "wrong": 0.03},
}


@pytest.mark.parametrize("part", ["dev", "heldout"])
def test_patient_voice_questions_hold_their_floor(
    reports: Dict[str, understanding_eval.Report], part: str
) -> None:
    report = reports[part]
    assert report.rate("right") >= FLOORS[part]["right"], report.format()
    assert report.rate("wrong") <= FLOORS[part]["wrong"], report.format()


SCORER = Scorer.load()


@pytest.mark.parametrize(
    ("replies", "expects", "outcomes"),
    [
        # one answer per question, in any order
        (
            [
                Reply("utter_article/incision_size", "", ""),
                Reply("utter_faq/recovery_time", "", ""),
            ],
            [{"part": "F1"}, {"part": "P06"}],
            ["right", "right"],
        ),
        # the second question silently dropped: missed, not wrong
        (
            [Reply("utter_article/incision_size", "", "")],
            [{"part": "P06"}, {"part": "F1"}],
            ["right", "missed"],
        ),
        # an answer to a question nobody asked: wrong
        ([Reply("utter_article/risks", "", "")], [{"part": "F1"}], ["wrong"]),
        ([Reply("utter_clarify", "", "")], [{"part": "F1"}], ["clarify"]),
        # a guide answer to a question the guide cannot answer is wrong; saying so is right
        ([Reply("utter_faq/recovery_time", "", "")], [{"outside": "driving"}], ["wrong"]),
        ([Reply("utter_not_in_guide", "", "")], [{"outside": "driving"}], ["right"]),
        # no listed doctor in that city: right for a city the cards lack, else a clarification
        ([Reply("utter_no_specialist_in_city", "", "")], [{"outside": "mumbai"}], ["right"]),
        (
            [Reply("utter_no_specialist_in_city", "", "")],
            [{"doctors": ["Dr Mayank Nakipuria"], "detail": "city"}],
            ["clarify"],
        ),
        # the winner named first; all five cards with no winner named is not right
        (
            [
                Reply(
                    "utter_specialist_cards",
                    "The lowest listed fee: Dr Mayank Nakipuria (₹500).",
                    "",
                )
            ],
            [{"doctors": ["Dr Mayank Nakipuria"], "detail": "fee"}],
            ["right"],
        ),
        (
            [
                Reply(
                    "utter_specialist_cards",
                    "Here are the 5 listed specialists:\n\nDr Mayank Nakipuria\nDr. Gopal Achari",
                    "",
                )
            ],
            [{"doctors": ["Dr Mayank Nakipuria"], "detail": "fee"}],
            ["missed"],
        ),
        # a quote from the right section of the page
        (
            [
                Reply(
                    "utter_guide_passage", "", "Shorter Hospital Stay and Faster Recovery Timeline"
                )
            ],
            [{"part": "P14"}],
            ["right"],
        ),
    ],
)
def test_scoring(replies: list, expects: list, outcomes: list) -> None:
    assert SCORER.score_turn(replies, expects) == outcomes
