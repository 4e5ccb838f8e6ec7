"""Red-flag engine and its Rasa component: patterns, context rules, persistence."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from spine_nlu.red_flag_detector import RedFlagDetector
from spine_nlu.red_flags import ROOT, RedFlagMatcher, load_config, strongest_kind


@pytest.fixture(scope="module")
def matcher() -> RedFlagMatcher:
    return RedFlagMatcher.from_file()


def _ids(matcher: RedFlagMatcher, text: str) -> List[str]:
    return [hit.flag_id for hit in matcher.detect(text)]


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("I lost control of my bladder this morning", "bladder_bowel_control"),
        ("i cant pee since yesterday", "urinary_retention"),
        ("mujhe urine pass nahi ho raha", "urinary_retention"),
        ("my groin feels numb", "saddle_numbness"),
        ("my legs suddenly went weak", "leg_weakness"),
        ("both my legs are numb", "numb_both_legs"),
        ("I fell off the ladder and now I can't move my legs", "fall_injury"),
        ("terrible back pain and a high fever", "back_pain_fever"),
        ("clear fluid is leaking from my wound", "wound_discharge"),
        ("there is pus coming out of the incision", "wound_discharge"),
        ("the wound is red and the edges are opening", "wound_red_or_opening"),
        ("I have had a headache since the surgery, worse when I sit up", "postop_headache"),
        ("fever since the operation", "fever_after_surgery"),
        ("only one leg tingles and the other is fine", None),
        ("my left foot has been numb for 6 months", None),
        ("my calf is swollen and painful", "calf_swelling"),
        # a symptom that "doesn't go away" persists: neither negated nor resolved
        ("calf cramp that doesnt go away and swelling, 2 weeks after surgery", "calf_swelling"),
        ("calf cramp that won't go away but no swelling", None),
        ("the calf swelling went away last week", None),
        ("I have chest pain", "chest_breathing"),
        ("I want to end my life", "self_harm"),
        # Hinglish "ehsaas" is the feeling of the stool or urine passing
        ("kal se susu ka ehsaas hi nahi hota", "bladder_bowel_control"),
        # the back "feels broken" after a fall; Hindi puts "cannot" after the verb
        ("bike se gira, peeth tooti si lag rahi hai", "fall_injury"),
        ("seedhi pe fisal gaye, ab hil bhi nahi pa rahe", "fall_injury"),
        # "h." ends the sentence: "normal hai kya" asks about this wound, not about risks
        ("tanka sooja hai aur bukhar 101 h. normal hai kya", "fever_with_wound_signs"),
        # Punjabi "tankeyan" (stitches) and "taap" (fever); Devanagari-written English words
        ("papa de tankeyan laal ne te taap 102", "fever_with_wound_signs"),
        ("रात से यूरिन लीक हो रहा है", "bladder_bowel_control"),
        ("स्टिच से पस आ रहा है", "wound_discharge"),
        # worsening told as "mild before, now ..." (Awadhi "पहिले ... अब")
        ("पैर में कमजोरी पहिले हल्की रही अब चलत मा पैर मुड़ि जात है", "leg_weakness"),
        ("gaad se girke kamar dard, pair uthat nahi", "fall_injury"),
        # "न ... न": neither ... nor
        ("न बुखार है न घाव से मवाद, बस खुजली", None),
        ("कल से दोनों चूतड़ सुन्न हैं", "saddle_numbness"),
        ("do din se peshab karne mein dikkat hai", "urinary_retention"),
        ("peshab karne mein koi dikkat nahi, bas kamar dard", None),
        ("maybe it is time i stop being a burden on my kids", "self_harm"),
        # "तो" (then) ends the condition: the threat after it stands
        ("अगर दर्द ठीक न हुआ तो मैं जीना नहीं चाहता", "self_harm"),
        # ... but "X तो नहीं" is the emphatic particle: X is negated
        ("पैरों में सुन्नपन तो नहीं है, बस कमर में दर्द", None),
    ],
)
def test_each_red_flag_is_detected(matcher: RedFlagMatcher, text: str, flag: str | None) -> None:
    if flag:
        assert flag in _ids(matcher, text)
    else:
        assert strongest_kind(matcher.detect(text)) is None


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("lost controll of my bladdr", "bladder_bowel_control"),  # typos
        ("numbnes in my groin", "saddle_numbness"),
        ("having trouble brething", "chest_breathing"),
    ],
)
def test_typos_in_unknown_words_are_tolerated(
    matcher: RedFlagMatcher, text: str, flag: str
) -> None:
    assert flag in _ids(matcher, text)


def test_real_words_are_not_corrected_into_symptoms(matcher: RedFlagMatcher) -> None:
    keys, _ = matcher.normalise("I fixed the ladder")
    assert "bladder" not in keys


def test_red_flag_buried_in_a_long_message(matcher: RedFlagMatcher) -> None:
    text = (
        "thanks for the info about recovery, my op was planned for next month but since last night "
        "I can't feel my legs properly and both are numb, also where do I park at the hospital"
    )
    assert "numb_both_legs" in _ids(matcher, text)


@pytest.mark.parametrize(
    "text",
    [
        "what are the risks of nerve damage?",
        "is bladder problem a risk of MISS?",
        "what are the odds of the wound getting infected after keyhole surgery",
        "what if I lose bladder control after surgery",
        "no fever, no chills",
        "I don't have any numbness in my legs",
        "my calf is not swollen",
        "I had sciatica years ago",
        "my legs were numb last year but it's fine now",
        "how sore is the back usually after the op?",
        "I'm dying to know the recovery time",
    ],
)
def test_context_rules_prevent_false_alarms(matcher: RedFlagMatcher, text: str) -> None:
    assert _ids(matcher, text) == []


def test_a_risk_question_about_oneself_is_still_a_red_flag(matcher: RedFlagMatcher) -> None:
    assert "wound_red_or_opening" in _ids(
        matcher, "what are the odds my wound is infected, it is red"
    )


def test_negation_in_another_clause_does_not_hide_a_red_flag(matcher: RedFlagMatcher) -> None:
    assert "numb_both_legs" in _ids(matcher, "no fever, but both my legs are numb")


def test_hits_carry_spans_and_crisis_outranks_emergency(matcher: RedFlagMatcher) -> None:
    text = "I can't breathe and I want to kill myself"
    hits = matcher.detect(text)
    assert {h.kind for h in hits} == {"emergency", "crisis"}
    assert strongest_kind(hits) == "crisis"
    assert all(0 <= h.start < h.end <= len(text) for h in hits)


@pytest.mark.parametrize("text", ["", "   ", "?", "topic:faq/recovery_time"])
def test_empty_or_payload_text_is_safe(matcher: RedFlagMatcher, text: str) -> None:
    assert matcher.detect(text) == []


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("flags: []\n", "no red flags"),
        ("flags:\n  - {id: x, kind: emergency, label: y}\n", "lacks"),
        ("flags:\n  - {id: x, kind: scary, label: y, patterns: [[a]]}\n", "unknown kind"),
        ("flags:\n  - {id: x, kind: emergency, label: y, patterns: [[no, fever]]}\n", "quote"),
    ],
)
def test_bad_pattern_files_are_rejected(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "flags.yml"
    path.write_text(yaml_text)
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_unknown_group_is_rejected() -> None:
    config = {"flags": [{"id": "x", "kind": "emergency", "label": "y", "patterns": [["@NOPE"]]}]}
    with pytest.raises(ValueError, match="unknown group"):
        RedFlagMatcher(config)


# ----- the Rasa component --------------------------------------------------------------------
def _message(text: str, intent: str = "article", confidence: float = 0.9) -> Message:
    data: Dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
        "entities": [{"entity": "body_part", "value": "legs", "start": 0, "end": 4}],
    }
    return Message(data=data)


def _trained(storage: LocalModelStorage, context: ExecutionContext) -> RedFlagDetector:
    detector = RedFlagDetector.create(
        RedFlagDetector.get_default_config(), storage, Resource("rf"), context
    )
    detector.train(TrainingData())
    return detector


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> RedFlagDetector:
    """The detector as configured by default, built once: building reads the rules and spaCy's
    lemma tables (~0.5 s), and processing a message does not change it."""
    storage = LocalModelStorage(tmp_path_factory.mktemp("rf"))
    return _trained(storage, ExecutionContext(GraphSchema({}), "test"))


@pytest.mark.parametrize(
    ("text", "kind", "flag"),
    [
        ("i cant feel my legs", "emergency", "numb_both_legs"),
        ("i dont see the point of living anymore", "crisis", "self_harm"),
    ],
)
def test_component_overrides_intent_and_records_flags(
    text: str, kind: str, flag: str, detector: RedFlagDetector
) -> None:
    [message] = detector.process([_message(text, "faq", 0.99)])
    assert message.get("intent") == {"name": kind, "confidence": 1.0}
    assert message.get("intent_ranking")[0] == {"name": kind, "confidence": 1.0}
    assert flag in [f["id"] for f in message.get("red_flags")]
    assert message.get("entities")[0]["entity"] == "body_part"  # other entities kept
    assert "red_flags" in message.as_dict(only_output_properties=True)


def test_component_leaves_ordinary_messages_alone(detector: RedFlagDetector) -> None:
    [message] = detector.process([_message("how long is the hospital stay")])
    assert message.get("intent") == {"name": "article", "confidence": 0.9}
    assert message.get("red_flags") is None


def test_red_flags_persist_with_the_model(storage: Any, context: Any, tmp_path: Path) -> None:
    _trained(storage, context)
    loaded = RedFlagDetector.load({}, storage, Resource("rf"), context)
    [message] = loaded.process([_message("my calf is swollen and red")])
    assert message.get("intent")["name"] == "emergency"


def test_a_model_without_red_flags_refuses_to_load(storage: Any, context: Any) -> None:
    with pytest.raises(ValueError, match="missing"):
        RedFlagDetector.load({}, storage, Resource("missing"), context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my legs are strong, no weakness whatsoever", "nlu_fallback"),  # negation
        ("bladder and bowel are normal", "nlu_fallback"),  # reassurance
        ("my chest of drawers fell on my foot last month", "nlu_fallback"),  # past
        ("everything feels wrong down below and I am scared", "emergency"),  # kept: second net
    ],
)
def test_classifier_only_emergency_is_kept_unless_the_message_rules_it_out(
    text: str, expected: str, detector: RedFlagDetector
) -> None:
    [message] = detector.process([_message(text, "emergency", 0.8)])
    assert message.get("intent")["name"] == expected
    if expected == "nlu_fallback":
        assert "emergency" not in [r["name"] for r in message.get("intent_ranking")]


@pytest.mark.parametrize(
    ("runner_up", "confidence", "expected"),
    [("article", 0.5, "article"), ("article", 0.39, "nlu_fallback"), (None, 0.0, "nlu_fallback")],
)
def test_a_classifier_only_urgent_guess_is_demoted(
    runner_up: str | None, confidence: float, expected: str, detector: RedFlagDetector
) -> None:
    """A classifier's "urgent" for "how big an incision for open back surgery" (0.9) is demoted:
    urgent comes from the triage rules only; the guide's question gets its answer."""
    message = _message("how big an incision for open back surgery", "urgent", 0.9)
    if runner_up:
        message.set(
            "intent_ranking",
            [
                {"name": "urgent", "confidence": 0.9},
                {"name": runner_up, "confidence": confidence},
            ],
        )
    [message] = detector.process([message])
    assert message.get("intent")["name"] == expected
    assert "urgent" not in [r["name"] for r in message.get("intent_ranking")]


def test_a_pattern_match_is_never_overruled(detector: RedFlagDetector) -> None:
    [message] = detector.process([_message("no, I still can't pee", "greet")])
    assert message.get("intent")["name"] == "emergency"


@pytest.mark.parametrize(
    ("intent", "confidence", "expected", "flagged"),
    [
        ("crisis", 0.44, "nlu_fallback", True),
        ("emergency", 0.59, "nlu_fallback", True),
        ("emergency", 0.6, "emergency", False),
        ("crisis", 0.95, "crisis", False),
    ],
)
def test_an_unsure_classifier_only_alarm_becomes_a_clarification(
    intent: str, confidence: float, expected: str, flagged: bool, detector: RedFlagDetector
) -> None:
    text = "explain everything from start till end"  # no red-flag pattern
    [message] = detector.process([_message(text, intent, confidence)])
    assert message.get("intent")["name"] == expected
    assert message.get("red_flags") is None
    possible = message.get("possible_red_flag")
    if flagged:
        assert possible == {"intent": intent, "confidence": confidence}
        assert "possible_red_flag" in message.as_dict(only_output_properties=True)
        assert intent not in [r["name"] for r in message.get("intent_ranking")]
    else:
        assert possible is None


def test_the_classifier_floor_is_configurable(storage: Any, context: Any) -> None:
    detector = RedFlagDetector.create(
        {**RedFlagDetector.get_default_config(), "classifier_min_confidence": 0.3},
        storage,
        Resource("rf-floor"),
        context,
    )
    detector.train(TrainingData())
    [message] = detector.process([_message("tell me everything", "crisis", 0.44)])
    assert message.get("intent")["name"] == "crisis"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my wound is red and I have a fever", "emergency"),
        ("the wound is red and warm but no fever", "urgent"),
        ("headache after my spine surgery", "urgent"),
        ("numbness in my left foot for 6 months", None),
        ("tingling in my foot since last month, is that sciatica?", None),
        ("bukhar nahi hai, peshab theek hai, bas kamar dard", None),
        ("tanka sukha hai laal nahi", None),
        ("agar operation ke baad bukhar aaye to kya karein", None),
        ("dono pairon mein achanak kamzori aa gayi hai", "emergency"),
        ("दोनों पैरों में झुनझुनी और पेशाब रुक गया है", "emergency"),
        ("saari goliyan ek saath kha lunga", "crisis"),
        ("mujhe peshab me koi dikkat nhi h, bas kamar dard", None),
        ("saans lene mein takleef ho rahi hai achanak se", "emergency"),
        ("hospital me bored ho ke mar jaunga", None),
        ("bacche ko bukhar hai kya karu", None),
        ("how big an incision for open back surgery", None),
        ("is it lit up and zoomed so the doctor can see inside my back", None),
        ("my wound has opened up at one end", "urgent"),
    ],
)
def test_triage_levels(matcher: RedFlagMatcher, text: str, kind: str | None) -> None:
    assert strongest_kind(matcher.detect(text)) == kind


def test_long_messages_stay_cheap(matcher: RedFlagMatcher) -> None:
    """Gapped patterns once ran spaCy's Matcher out of memory on long messages; a 2,000-character
    message of pattern words must simply be matched."""
    text = " ".join(["fell severe pain not walk bladder control"] * 45)[:2000]
    assert strongest_kind(matcher.detect(text)) == "emergency"


@pytest.mark.parametrize(
    ("second", "confidence", "flagged"),
    [
        ("crisis", 0.39, True),
        ("emergency", 0.3, True),
        ("crisis", 0.29, False),
        ("faq", 0.39, False),
    ],
)
def test_an_alarm_under_the_fallback_threshold_still_adds_the_numbers(
    second: str, confidence: float, flagged: bool, detector: RedFlagDetector
) -> None:
    """FallbackClassifier puts nlu_fallback on top when nothing reaches 0.4; the classifiers' own
    best guess under it still decides whether the clarification carries the urgent numbers."""
    message = _message("explain everything from start till end", "nlu_fallback", 0.4)
    message.set(
        "intent_ranking",
        [
            {"name": "nlu_fallback", "confidence": 0.4},
            {"name": second, "confidence": confidence},
        ],
    )
    [message] = detector.process([message])
    assert message.get("intent")["name"] == "nlu_fallback"
    assert bool(message.get("possible_red_flag")) == flagged


def test_edited_rules_change_the_training_fingerprint(tmp_path: Path) -> None:
    """Rasa's cache keys on config and training data; the rules file must count too, or a model
    trained after an edit keeps the old rules."""
    rules = tmp_path / "rules.yml"
    rules.write_text("flags: []\n")
    before = RedFlagDetector.fingerprint_addon({"patterns": str(rules)})
    rules.write_text("flags: [x]\n")
    assert RedFlagDetector.fingerprint_addon({"patterns": str(rules)}) != before


def _examples() -> List[tuple]:
    """(intent, text) of every training and held-out NLU example outside the triage intents."""
    out = []
    for path in [*sorted((ROOT / "data" / "nlu").glob("*.yml")), ROOT / "tests/nlu/holdout.yml"]:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" not in item or item["intent"] in ("emergency", "crisis", "urgent"):
                continue
            for line in str(item.get("examples") or "").splitlines():
                text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line.strip()[2:])
                out.append((item["intent"], text))
    return out


def test_the_guides_own_questions_never_escalate(matcher: RedFlagMatcher) -> None:
    """ "how big an incision for open back surgery" shares words with a wound sign: the questions
    the assistant is trained to answer must get their answers, not "contact your surgeon"."""
    escalated = [
        (intent, kind, text)
        for intent, text in _examples()
        if (kind := strongest_kind(matcher.detect(text)))
    ]
    assert len(_examples()) > 1000
    assert not escalated, escalated


# ----- with the triage classifier's probabilities (spine_nlu.triage_classifier) ---------------
TRIAGE_KEYS = (
    "act_emergency",
    "act_crisis",
    "act_urgent",
    "ask",
    "veto",
    "ask_crisis",
    "model_min_words",
)
# The thresholds that run: RedFlagDetector's entry in config.yml.
THRESHOLDS = {
    key: value
    for component in yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    if component["name"].endswith("RedFlagDetector")
    for key, value in component.items()
    if key in TRIAGE_KEYS
}


def test_the_tests_use_the_configured_thresholds_and_the_defaults_match() -> None:
    assert set(THRESHOLDS) == set(TRIAGE_KEYS)
    defaults = RedFlagDetector.get_default_config()
    assert {key: defaults[key] for key in TRIAGE_KEYS} == THRESHOLDS


def _with_triage(text: str, probs: Dict[str, float], intent: str = "faq") -> Message:
    message = _message(text, intent)
    message.set("triage", {"emergency": 0.0, "urgent": 0.0, "crisis": 0.0, **probs})
    return message


def _tuned(storage: LocalModelStorage, context: ExecutionContext) -> RedFlagDetector:
    detector = RedFlagDetector.create(
        {**RedFlagDetector.get_default_config(), **THRESHOLDS}, storage, Resource("rf"), context
    )
    detector.train(TrainingData())
    return detector


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> RedFlagDetector:
    """The detector with config.yml's thresholds, built once."""
    storage = LocalModelStorage(tmp_path_factory.mktemp("rf-tuned"))
    return _tuned(storage, ExecutionContext(GraphSchema({}), "test"))


@pytest.mark.parametrize(
    ("text", "probs", "intent", "possible"),
    [
        # No rule matches these wordings; the model decides.
        (
            "something is very off with my legs since this morning",
            {"emergency": 0.8, "routine": 0.2},
            "emergency",
            None,
        ),
        # ... but not about anything this guide concerns: the question, with the numbers
        (
            "something is very off since this morning",
            {"emergency": 0.8, "routine": 0.2},
            "triage_check",
            "emergency",
        ),
        ("something is very off", {"emergency": 0.5, "routine": 0.5}, "triage_check", "emergency"),
        ("whats the point of anything now", {"crisis": 0.85, "routine": 0.15}, "crisis", None),
        # A possible crisis gets the crisis check even when the model leans routine.
        (
            "whats the point of anything now",
            {"crisis": 0.45, "routine": 0.55},
            "crisis_check",
            "crisis",
        ),
        ("scar a bit pink", {"urgent": 0.55, "routine": 0.45}, "triage_check", "urgent"),
        # Too short for the model alone: a bare "no" is a form's answer, not a crisis.
        ("nahi", {"crisis": 0.9, "routine": 0.1}, "faq", None),
        ("pata nahi", {"emergency": 0.9, "routine": 0.1}, "faq", None),
        ("how long is recovery", {"emergency": 0.2, "routine": 0.8}, "faq", None),
        # A message that rules itself out (a hypothetical) gets the question at most ...
        (
            "what if something is very off after the operation",
            {"emergency": 0.9, "routine": 0.1},
            "triage_check",
            "emergency",
        ),
        # ... but a crisis statement is never explained away by its tense.
        ("if this goes on i will end it", {"crisis": 0.9, "routine": 0.1}, "crisis", None),
    ],
)
def test_the_triage_model_acts_asks_or_leaves_alone(
    text: str, probs: Dict[str, float], intent: str, possible: Any, tuned: RedFlagDetector
) -> None:
    [message] = tuned.process([_with_triage(text, probs)])
    assert message.get("intent")["name"] == intent
    assert (message.get("possible_red_flag") or {}).get("intent") == possible
    if intent != "faq":
        assert message.get("triage_source") == "model"
        assert message.get("red_flags") is None


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("i cant feel anything down there when i wipe", "saddle_numbness"),
        ("i cant pee at all", "urinary_retention"),
    ],
)
def test_cauda_equina_rules_are_final(text: str, flag: str, tuned: RedFlagDetector) -> None:
    """Marked `final` in content/red_flags.yml: no classifier turns them into a question."""
    [message] = tuned.process([_with_triage(text, {"routine": 0.99})])
    assert message.get("intent")["name"] == "emergency"
    assert flag in [f["id"] for f in message.get("red_flags")]


def test_a_final_flag_holds_beside_a_stronger_level(tuned: RedFlagDetector) -> None:
    """A crisis statement beside a cauda equina sign: both replies (112 / 108 and the helpline),
    never a question that a "no" would answer with neither reply."""
    text = "i cant pee at all and i want to kill myself"
    [message] = tuned.process([_with_triage(text, {"routine": 0.99})])
    assert message.get("intent")["name"] == "emergency_crisis"


def test_a_rule_match_the_model_is_sure_is_routine_is_asked_about(
    tuned: RedFlagDetector, detector: RedFlagDetector
) -> None:
    """Rules match words: "what signs of a leaking wound should i look for" has those of a
    leaking wound. The question that replaces the rule's reply gives the numbers itself."""
    text = "my wound is leaking since yesterday"
    [vetoed] = tuned.process([_with_triage(text, {"routine": 0.97})])
    assert vetoed.get("intent")["name"] == "triage_check"
    assert vetoed.get("possible_red_flag") == {"intent": "emergency", "confidence": 1.0}
    assert vetoed.get("red_flags")  # staff still see which rule matched
    # Under the veto threshold the rule acts, as it does with no model at all.
    [kept] = tuned.process([_with_triage(text, {"routine": 0.3})])
    assert kept.get("intent")["name"] == "emergency"
    [plain] = detector.process([_message(text)])
    assert plain.get("intent")["name"] == "emergency"


@pytest.mark.parametrize(
    ("text", "outside"),
    [
        ("my child has fever and cough what to do", True),
        ("is it safe to take the flu vaccine this year", True),
        ("fever 101 since yesterday after my back operation", False),
        ("kamar me bahut dard hai aur bukhar hai", False),
        ("पैर सुन्न हो गए हैं", False),
        ("i cant breathe properly", False),
    ],
)
def test_the_classifier_alone_acts_only_on_what_this_guide_concerns(
    matcher: RedFlagMatcher, text: str, outside: bool
) -> None:
    """A classifier-only emergency guess about nothing of the back, legs, operation, bladder,
    chest or breathing becomes the triage question (with the numbers), not the emergency reply."""
    assert matcher.out_of_context(text) is outside
    assert matcher.doubts(text) is (outside or matcher.rules_out(text))
