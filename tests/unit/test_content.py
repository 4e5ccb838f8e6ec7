"""Content fidelity: every answer is traceable to the source page, chat-sized, and well-linked."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml

from spine_content.topics import topic_titles

ROOT = Path(__file__).resolve().parents[2]
SOURCE = (ROOT / "content" / "source" / "miss_guide.txt").read_text(encoding="utf-8")
# Emergency numbers are clinical-safety content required by the product (not from the article).
SAFETY_NUMBERS = {"112", "108", "14416", "1-800-891-4416", "1-800", "891-4416", "800-891"}
# Form questions and their error messages show input formats, not facts.
FORM_PROMPTS = ("utter_ask_", "utter_invalid_")
NUMBER = re.compile(r"\d+(?:-\d+)?%?")


def _responses() -> Dict[str, Dict]:
    out: Dict[str, Dict] = {}
    for path in sorted((ROOT / "data" / "nlu" / "responses").glob("*.yml")):
        for name, variants in yaml.safe_load(path.read_text())["responses"].items():
            out[name[len("utter_") :]] = variants[0]
    return out


RESPONSES = _responses()
TITLES = topic_titles()


def _training_examples() -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text()).get("nlu", []):
            if "intent" not in item:
                continue  # regex / lookup entries
            examples = [e[2:].strip() for e in item["examples"].splitlines() if e.strip()]
            out.setdefault(item["intent"], []).extend(examples)
    return out


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_every_topic_has_an_answer_and_vice_versa() -> None:
    assert set(RESPONSES) == set(TITLES)
    assert len([k for k in TITLES if k.startswith("faq/")]) == 5  # the page's five FAQ answers


@pytest.mark.parametrize("key", sorted(RESPONSES))
def test_answer_is_chat_sized_with_related_buttons(key: str) -> None:
    response = RESPONSES[key]
    assert len(response["text"].split()) <= 80
    buttons = response["buttons"]
    assert 2 <= len(buttons) <= 3
    for button in buttons:
        target = button["payload"].removeprefix("topic:")
        assert target in TITLES
        assert target != key
        assert button["title"] == TITLES[target]
        assert len(button["title"]) <= 20  # fits a WhatsApp reply button


@pytest.mark.parametrize("key", sorted(RESPONSES))
def test_every_number_in_an_answer_is_on_the_source_page(key: str) -> None:
    for number in NUMBER.findall(RESPONSES[key]["text"]):
        assert number in SOURCE or number in SAFETY_NUMBERS, f"{key}: {number} is not on the page"


def test_domain_responses_state_no_numbers_beyond_the_page_and_safety_lines() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    for name, variants in domain["responses"].items():
        if name.startswith(FORM_PROMPTS):
            continue  # input formats ("98765 43210", "10 am"), not facts
        for variant in variants:
            for number in NUMBER.findall(variant.get("text", "")):
                assert number in SOURCE or number in SAFETY_NUMBERS, (name, number)


KEY_FACTS: List[Tuple[str, str]] = [
    ("article/incision_size", "less than one inch"),
    ("article/incision_size", "5-6 inches"),
    ("article/miss_vs_open", "1-2 days"),
    ("article/hospital_stay", "outpatient"),
    ("faq/recovery_time", "2-4 weeks"),
    ("faq/recovery_time", "3-6 months"),
    ("article/spinal_fusion", "3-6 months"),
    ("faq/fusion_success_rate", "between 80% and 95%"),
    ("article/walking_after", "within hours"),
    ("faq/physical_therapy", "within a few weeks"),
    ("article/anaesthesia", "general anaesthesia"),
    ("article/wound_closure", "sutures or surgical glue"),
    ("article/surgical_guidance", "fluoroscopy"),
    ("article/visualisation", "endoscope"),
    ("article/risk_nerve_damage", "cerebrospinal fluid"),
    ("article/candidacy_bmi", "body mass index (BMI)"),
    ("article/candidacy_previous_surgery", "scar tissue"),
    ("article/diagnosis_scans", "MRI or CT scan"),
    ("article/limitations", "complex deformities"),
    ("article/authors", "Dr. Dhankecha Mayank Dineshbhai"),
    ("article/authors", "Dr. Rohinipriyanka Pondugula MBBS"),
    ("article/authors", "18th Sep, 2025"),
    ("faq/activity_restrictions", "running or jumping"),
]


@pytest.mark.parametrize(("key", "fact"), KEY_FACTS)
def test_key_facts_are_stated_as_on_the_page(key: str, fact: str) -> None:
    assert fact in RESPONSES[key]["text"]
    assert _normalise(fact) in _normalise(SOURCE)


def test_every_intent_and_answer_has_at_least_15_varied_examples() -> None:
    examples = _training_examples()
    for key in TITLES:
        assert len(set(examples.get(key, []))) >= 15, key
    for intent in ("greet", "goodbye", "thank", "bot_challenge", "what_can_you_do", "out_of_scope"):
        assert len(set(examples.get(intent, []))) >= 15, intent


def test_holdout_covers_every_answer_and_is_disjoint_from_training() -> None:
    train = {_normalise(e) for exs in _training_examples().values() for e in exs}
    holdout = yaml.safe_load((ROOT / "tests" / "nlu" / "holdout.yml").read_text())["nlu"]
    labels = {item["intent"] for item in holdout}
    messages = [
        e[2:].strip() for item in holdout for e in item["examples"].splitlines() if e.strip()
    ]
    assert len(messages) >= 150
    assert set(TITLES) <= labels
    overlap = [m for m in messages if _normalise(m) in train]
    assert not overlap, f"held-out messages also in training data: {overlap}"


DOSE = re.compile(r"\b\d+(\.\d+)?\s*(mg|mcg|ml|g|iu|units?|tablets?|pills?|capsules?)\b", re.I)


def test_no_response_states_a_medication_dose() -> None:
    texts = [r["text"] for r in RESPONSES.values()]
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    texts += [v.get("text", "") for variants in domain["responses"].values() for v in variants]
    assert not [t for t in texts if DOSE.search(t)]


def test_emergency_and_crisis_replies_give_the_numbers() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]
    emergency = domain["utter_emergency"][0]["text"]
    crisis = domain["utter_crisis"][0]["text"]
    for number in ("112", "108"):
        assert number in emergency
    for number in ("14416", "1-800-891-4416", "112"):
        assert number in crisis
    assert len(emergency.split()) <= 40  # short
    greeting = domain["utter_greet"][0]["text"]
    assert "not a substitute for a doctor" in greeting
    assert "112" in greeting
