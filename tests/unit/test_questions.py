"""Finding the questions in what patients write (spine_nlu/questions.py, follow_ups.py) and
resolving follow-ups against the previous answer (actions/follow_ups.py)."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
import yaml

from actions.follow_ups import follow_up_table, previous_answer
from spine_nlu.follow_ups import FollowUp, follow_up
from spine_nlu.questions import (
    SOURCE_PAGE,
    SPECIALISTS,
    PassageIndex,
    asks_something,
    beyond_the_guide,
    compares_places,
    decision_request,
    doctor_question,
    doctor_surnames,
    far_beyond_the_guide,
    flying_question,
    guide_form,
    guide_sections,
    mode_question,
    operation_duration,
    other_doctor,
    ranks_doctors,
    reads_a_report,
    remedy_question,
    segments,
    success_elsewhere,
    with_context,
)
from spine_nlu.triage_model import BOTH, Thresholds, Verdict, with_both


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "i am 45, software engineer. my doctor says it is sciatica. how long is the cut "
            "and how many days in hospital?",
            [
                ("i am 45, software engineer", False),
                ("my doctor says it is sciatica", False),
                ("how long is the cut", True),
                ("how many days in hospital?", True),
            ],
        ),
        (
            "3 doubts\n1 will the scar be visible\n2 can he go home same day",
            [
                ("doubts", False),
                ("will the scar be visible", True),
                ("can he go home same day", True),
            ],
        ),
        (
            "1) how does the surgeon see inside 2) what happens to the back muscles",
            [("how does the surgeon see inside", True), ("what happens to the back muscles", True)],
        ),
        (
            "so i was wondering if three weeks leave is enough",
            [("so i was wondering if three weeks leave is enough", True)],
        ),
        # a second question that does not start with a question word
        (
            "is infection less than open? and dr bhati consultation fee kitna hai",
            [
                ("is infection less than open?", True),
                ("and dr bhati consultation fee kitna hai", True),
            ],
        ),
        (
            "does MISS treat stenosis? also r there any spine doctors in kolkata",
            [
                ("does MISS treat stenosis?", True),
                ("also r there any spine doctors in kolkata", True),
            ],
        ),
        (
            "wat r the risks overall. and for fusion specifically wats the success rate",
            [
                ("wat r the risks overall", True),
                ("and for fusion specifically wats the success rate", True),
            ],
        ),
        (
            "i am 45. physiotherapy is compulsary after or optional",
            [("i am 45", False), ("physiotherapy is compulsary after or optional", True)],
        ),
        # "Q1", "Q2" mark the questions as list numbers do
        (
            "Q1 is MISS as good as open surgery? Q2 how many days in hospital",
            [("is MISS as good as open surgery?", True), ("how many days in hospital", True)],
        ),
        # "when" before a gerund is a clause of time, not a question
        (
            "pain in legs when walking and mri shows narrowing. what is foraminotomy",
            [
                ("pain in legs when walking and mri shows narrowing", False),
                ("what is foraminotomy", True),
            ],
        ),
        ("", []),
    ],
)
def test_segments_find_the_pieces_that_ask(text: str, expected: List[tuple]) -> None:
    assert [(s.text, s.asks) for s in segments(text)] == expected


@pytest.mark.parametrize(
    ("text", "decides"),
    [
        ("just tell me yes or no should I do MISS", True),
        ("honestly tell me should i go for the surgery or keep doing physio", True),
        ("should we go for surgery or wait more", True),
        ("should i do physio after the surgery", False),
        ("my doctor said we should go for surgery, how long is recovery", False),
        ("should i take painkillers before the operation", False),
        ("why should i choose keyhole surgery, whats good about it", False),
        # the patient's own case put as a choice
        ("be honest, should my husband get operated or not", True),
        ("do i actually need the operation or can physio do it", True),
        ("is keyhole surgery right for my mother or not", True),
        ("will he qualify or not", True),
        ("how do i know if MISS is right for me", False),
        ("what decides if i am suitable or not", False),
        ("do i need surgery again if the disc slips later", False),
    ],
)
def test_asking_the_assistant_to_decide(text: str, decides: bool) -> None:
    assert decision_request(text) == decides


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("Main benefits of the minimally invasive approach pls", True),
        ("and physio after surgery starts when", True),
        ("my father is 64 and a retired teacher", False),
        ("we went to the hospital where he works", False),
        ("and dr debnath dwaipayan sits in which hospital", True),
        ("he was admitted in which ward we do not know yet and", False),
    ],
)
def test_a_request_or_a_last_question_word_asks(text: str, asks: bool) -> None:
    assert asks_something(text) == asks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a short question that points back is read with the statement that names its subject
        (
            "doc says foraminotomy. what is that surgery? and how long in hospital",
            [
                "doc says foraminotomy",
                "doc says foraminotomy what is that surgery?",
                "and how long in hospital",
            ],
        ),
        # right after another question "it" may mean that question's answer
        (
            "what is a discectomy? how long does it take",
            ["what is a discectomy?", "how long does it take"],
        ),
        # a question that names its subject, or a long one, is read alone
        (
            "my mother has stenosis. how long is the hospital stay",
            ["my mother has stenosis", "how long is the hospital stay"],
        ),
        (
            "my mother has stenosis. can this be done by keyhole if she is over 70 and diabetic",
            [
                "my mother has stenosis",
                "can this be done by keyhole if she is over 70 and diabetic",
            ],
        ),
    ],
)
def test_pointing_questions_are_read_with_the_statement_before(
    text: str, expected: List[str]
) -> None:
    assert with_context(segments(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is the success rate of endoscopic discectomy? i only see numbers for fusion", True),
        ("how successful is a laminectomy usually", True),
        ("success rate in percent for the discectomy, not the fusion please", True),
        ("is open surgery's success rate higher", True),
        # fusion's is the page's one success rate
        ("whats the success rate of keyhole fusion surgery", False),
        ("what is the success rate of fusion for spondylolisthesis", False),
        ("my brother had a discectomy. what is the success rate of fusion", False),
        ("how successful is MISS", False),
        ("my discectomy was a success, when can i run", False),
    ],
)
def test_a_success_rate_asked_for_another_procedure(text: str, expected: bool) -> None:
    assert success_elsewhere(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cheapest option in delhi then", True),
        ("who is the most expensive one, i assume he is the senior most", True),
        ("any doctor with fee under 1000 rupees", True),
        # a doctor in view, not a ranking
        ("the cheaper one, what is his fee exactly", False),
        # years are also the patient's own story
        ("i have had back pain for more than 10 years", False),
    ],
)
def test_doctors_ranked_by_their_cards(text: str, expected: bool) -> None:
    assert ranks_doctors(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how many hours does the MISS opration take? we have to tell relatives", True),
        ("kindly tell how many hours the keyhole spine surgery takes", True),
        ("how many hours will my mother be inside the ot", True),
        ("duration of the surgery itself?", True),
        # how long recovery takes is the guide's
        ("how long does recovery after the surgery take", False),
        ("how long does it take to recover from the operation", False),
        ("how long after the operation will i stay in hospital", False),
    ],
)
def test_how_long_the_operation_lasts(text: str, expected: bool) -> None:
    assert operation_duration(text) is expected


@pytest.mark.parametrize(
    ("text", "far"),
    [
        ("can MISS treat piriformis syndrome", True),
        ("is cashless possible with my policy", True),
        # touched by the page (spinal fractures, overall health): only where it has no answer
        ("my mother has an osteoporosis fracture, can miss fix it", False),
        ("my blood sugar is high, am i a candidate", False),
        ("what should i eat and avoid after spine surgery", True),
    ],
)
def test_subjects_beyond_the_guide(text: str, far: bool) -> None:
    assert beyond_the_guide(text)
    assert far_beyond_the_guide(text) is far


def test_a_ranking_asks_even_without_a_question_form() -> None:
    pieces = segments("he is in rudrapur no? too far. cheapest option in delhi then")
    assert [(p.text, p.asks) for p in pieces] == [
        ("he is in rudrapur no?", True),
        ("too far", False),
        ("cheapest option in delhi then", True),
    ]
    assert doctor_question(pieces[-1].text, SURNAMES) == "find_specialist"


def test_segments_are_bounded() -> None:
    pieces = segments("what is miss? " * 5000)
    assert 0 < len(pieces) <= 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("and for a fusion?", FollowUp("term", "fusion")),
        ("what about after a discectomy?", FollowUp("term", "discectomy")),
        ("what about after a fusion? his uncle is having that", FollowUp("term", "fusion")),
        ("is it the same for spinal stenosis?", FollowUp("term", "stenosis")),
        ("how common is that?", FollowUp("how_common")),
        ("how often does it happen", FollowUp("how_common")),
        ("and for a fusion? my father may need that one", FollowUp("term", "fusion")),
        ("what if my doctor does fusion instead, then also same?", FollowUp("term", "fusion")),
        ("and for a fusion? how long is the stay?", None),
        ("that spinal fluid leak one, how common is it?", FollowUp("how_common")),
        ("my father had fusion, how often does he need physio", None),
        # complete questions are read on their own
        ("and what is the recovery time after a fusion", None),
        ("what is a spinal fusion", None),
        ("how many patients have rated dr bhati", None),
        ("what is the success rate of fusion", None),
        # an acknowledgement first, "turns out", "end up"
        ("ok and what if they end up doing a fusion instead", FollowUp("term", "fusion")),
        ("what if it turns out he needs fusion", FollowUp("term", "fusion")),
        # the success rate of what was just explained
        ("and how often does it succeed", FollowUp("success")),
        ("how successful is it", FollowUp("success")),
        ("how successful is MISS", None),
        ("and the success rate?", FollowUp("success")),
        ("whats the success rate of that", FollowUp("success")),
        ("what is success rate", FollowUp("success")),
        ("what percent of them succeed", FollowUp("success")),
        ("what is the success rate of discectomy", None),
        # what the success just given depends on
        ("my dad smokes, does that change anything in that", FollowUp("success")),
        ("is there anything i can do from my side to improve my chances", FollowUp("success")),
        ("does smoking increase the risk of infection after surgery", None),
        # when what was just explained begins
        # the procedure for the condition just explained, and the condition for the procedure
        ("which keyhole operation is done for it", FollowUp("procedure_for")),
        ("which of the procedures would that be", FollowUp("procedure_for")),
        ("For which condition is it usually performed?", FollowUp("condition_for")),
        ("for which problem do they do it", FollowUp("condition_for")),
        ("which conditions can MISS treat", None),
        ("how soon after the op does it usually start?", FollowUp("when_starts")),
        ("when it will start, how many days after", FollowUp("when_starts")),
        ("when can i start walking after surgery", None),
        ("how common is the nerve damage one, like how many out of 100", FollowUp("how_common")),
        ("that leak of spinal fluid you mentioned, how common is that?", FollowUp("how_common")),
        ("hmm how common is that, thoda percentage bata do", FollowUp("how_common")),
        ("how common is that csf leak one", FollowUp("how_common")),
        ("how common are these? like what percent of patients get them", FollowUp("how_common")),
        # a frequency question that names its risk is a question of its own
        ("how likely is a wound infection after minimally invasive spine surgery", None),
        ("what are the chances the disc herniates again", None),
        ("how common are clots after the op", None),
        # how often it works is its success rate, and the procedure it names is kept
        ("what are the chances my fusion will work", FollowUp("success", "fusion")),
        ("does smoking reduce the chances of the fusion working", FollowUp("success", "fusion")),
        ("how often does it work", FollowUp("success")),
        ("how likely is a discectomy to succeed", FollowUp("success", "discectomy")),
        ("my doctor recommended fusion, how likely is it to work", FollowUp("success", "fusion")),
    ],
)
def test_follow_up_shapes(text: str, expected: FollowUp | None) -> None:
    assert follow_up(text) == expected


def test_going_back_to_work_is_a_question_of_its_own() -> None:
    # the patient's job, not the operation working (fusion's success rate), and not how common
    # a risk just explained is ("the guide gives no figures")
    assert follow_up("what are the chances i can go back to work in 2 weeks") is None


@pytest.mark.parametrize(
    "text",
    [
        "what are the chances that i can go back to work",
        "how likely is it that the pain comes back",
        "what are the chances that my father gets an infection",
    ],
)
def test_that_before_a_subject_points_nowhere(text: str) -> None:
    # a conjunction, not "that" pointing back to the previous answer
    assert follow_up(text) is None


SURNAMES = doctor_surnames(SPECIALISTS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is dr nakipuria consultation fee", "ask_specialist_detail"),
        ("how many yrs exp", "ask_specialist_detail"),
        # the guide's advice for whoever is unsure they qualify, not one doctor's card
        ("can i first talk to a doctor online for an initial check before travelling", None),
        ("is a first evaluation by video possible before we visit", None),
        ("which doctor is available online", "find_specialist"),
        ("is he available online? we are in jaipur", "ask_specialist_detail"),
        ("and how many years of practice", "ask_specialist_detail"),
        ("how many years does a fusion last", None),
        ("which doctor charges the least", "find_specialist"),
        ("is there any doctor in kolkata", "find_specialist"),
        ("how does the surgeon see inside", None),
        ("what is a tubular retractor", None),
        # short follow-ups about the doctor just shown
        ("the kolkata one, which hospital?", "ask_specialist_detail"),
        ("ok and booking fee?", "ask_specialist_detail"),
        ("is she available online?", "ask_specialist_detail"),
        ("does he do video consults, travelling is hard for my dad", "ask_specialist_detail"),
        ("is she at apollo indraprastha", "ask_specialist_detail"),
        ("how long is the hospital stay", None),
        ("what is the cost of his surgery", None),
        ("which hospital is best for MISS in india and how long is the stay", None),
        ("which of them has been practising the longest", "find_specialist"),
        ("we are from asansol, anyone in kolkata we can go to?", "find_specialist"),
        ("based on how many patients", "ask_specialist_detail"),
        # misspelt doctor words, bare details and comparisons between the doctors shown
        ("any spine docter in kolkata??", "find_specialist"),
        ("which docter has more than 15 year experiance", "find_specialist"),
        ("rating?", "ask_specialist_detail"),
        ("out of these the cheaper one?", "ask_specialist_detail"),
        ("the cheaper one?", "ask_specialist_detail"),
        ("and the senior one?", "ask_specialist_detail"),
        ("of those two who is having no booking fees", "ask_specialist_detail"),
        ("any booking charge on top?", "ask_specialist_detail"),
        ("of these, which would you rather see", None),
        ("what is the rating of this surgery", None),
        # what only the cards answer, even with no doctor word
        ("cheapest consultation?", "find_specialist"),
        ("only surgeons above 20 yrs experience", "find_specialist"),
        ("delhi me sabse sasta docter kaun hai", "find_specialist"),
        ("consultation fee under 1000 rupees?", "find_specialist"),
        ("what is the cheapest way to recover faster", None),
        ("how much does the surgery cost", None),
        ("do most patients need blood transfusion", None),
    ],
)
def test_doctor_questions(text: str, expected: str | None) -> None:
    assert doctor_question(text, SURNAMES) == expected


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("does dr gopal achari do video consult", True),
        ("can i do video call with dr gopal achari? is he available for online consult", True),
        ("book a video consult with dr achari", False),
        ("what is dr achari's fee", False),
    ],
)
def test_asking_whether_a_doctor_consults_online(text: str, asks: bool) -> None:
    assert mode_question(text) is asks


def test_guide_sections_skip_the_cards_and_keep_the_faq() -> None:
    sections = dict(guide_sections(SOURCE_PAGE.read_text(encoding="utf-8")))
    assert "Factors That Determine Candidacy" in sections
    assert "5. Are there activities I can never do again after MISS?" in sections
    text = " ".join(line for body in sections.values() for line in body)
    assert "Neurosurgeon" not in text
    assert "No Booking Fees" not in text
    # a list item keeps its lead-in, so a quoted item reads as a sentence
    assert any(
        line.startswith("MISS can effectively treat many conditions, including: Degenerative")
        for line in sections["Common Conditions Treated with MISS"]
    )


@pytest.mark.parametrize(
    ("question", "section"),
    [
        ("can i go home the same day", "Shorter Hospital Stay and Faster Recovery Timeline"),
        ("will i be given a brace", "The Road to Recovery: Post-Op Guidelines"),
        (
            "is it ok for highly complex deformities",
            "Understanding the Risks and Limitations of MISS",
        ),
    ],
)
def test_passages_are_the_pages_own_words(question: str, section: str) -> None:
    index = PassageIndex.from_page()
    passage, score = index.best(question)
    assert passage is not None
    assert passage.section == section
    assert score > 0.2
    assert passage.text in SOURCE_PAGE.read_text(encoding="utf-8").replace("  • ", "") or (
        passage.text.split(": ", 1)[-1] in SOURCE_PAGE.read_text(encoding="utf-8")
    )


def test_no_passage_for_words_the_page_does_not_use() -> None:
    assert PassageIndex.from_page().best("zzz qqq") == (None, 0.0)


@pytest.mark.parametrize(
    ("previous", "term", "expected"),
    [
        ("article/discectomy", "fusion", ("article/spinal_fusion", False)),
        ("faq/activity_restrictions", "discectomy", ("faq/activity_restrictions", False)),
        ("faq/recovery_time", "fusion", ("faq/recovery_time", False)),
        ("faq/fusion_success_rate", "discectomy", ("faq/fusion_success_rate", True)),
        (
            "article/condition_stenosis",
            "spondylolisthesis",
            ("article/condition_spondylolisthesis", False),
        ),
        (None, "laminectomy", ("article/laminectomy", False)),
        (None, "open_surgery", ("article/miss_vs_open", False)),
    ],
)
def test_follow_up_table(previous: str | None, term: str, expected: tuple) -> None:
    assert follow_up_table().resolve(previous, term) == expected


def test_every_answer_the_follow_up_table_names_exists(root: Any, domain: Dict[str, Any]) -> None:
    responses = set(domain["responses"])
    for path in (root / "data" / "nlu" / "responses").glob("*.yml"):
        responses |= set(yaml.safe_load(path.read_text(encoding="utf-8"))["responses"])
    table = follow_up_table()
    named = [key for family in table.families.values() for key in family.values()]
    named += list(table.covers) + list(table.risks)
    named += [*table.procedure_for, *table.procedure_for.values()]
    named += [*table.condition_for, *table.condition_for.values()]
    named += [*table.starts, *table.starts.values()]
    assert [key for key in named if f"utter_{key}" not in responses] == []


def _bot(action: str) -> Dict[str, Any]:
    return {"event": "bot", "metadata": {"utter_action": action}}


def test_previous_answer_is_the_last_guide_answer_before_the_message() -> None:
    events = [
        {"event": "user", "text": "recovery?"},
        _bot("utter_faq/recovery_time"),
        {"event": "user", "text": "doctors in delhi"},
        _bot("utter_specialist_cards"),
        {"event": "user", "text": "and for a fusion?"},
    ]
    assert previous_answer(events) == "faq/recovery_time"
    assert previous_answer(events[-1:]) is None


TH = Thresholds({"emergency": 0.7, "crisis": 0.8, "urgent": 0.6}, ask=0.5, veto=0.5, ask_crisis=0.2)


@pytest.mark.parametrize(
    ("verdict", "kinds", "probs", "level"),
    [
        (Verdict("act", "emergency", 1.0), {"emergency", "crisis"}, None, BOTH),
        (Verdict("act", "emergency", 1.0), {"emergency"}, {"crisis": 0.55}, BOTH),
        (Verdict("act", "emergency", 1.0), {"emergency"}, {"crisis": 0.3}, "emergency"),
        (Verdict("act", "crisis", 0.9), set(), {"crisis": 0.9, "emergency": 0.6}, BOTH),
        (Verdict("act", "crisis", 1.0), {"crisis"}, {"emergency": 0.1}, "crisis"),
        (Verdict("act", "urgent", 1.0), {"urgent", "crisis"}, None, "urgent"),
    ],
)
def test_emergency_and_crisis_together_get_both_replies(
    verdict: Verdict, kinds: set, probs: Dict[str, float] | None, level: str
) -> None:
    assert with_both(verdict, kinds, probs, TH).level == level


@pytest.mark.parametrize(
    ("piece_guess", "answers"),
    [
        # the piece's own best guess agrees with the whole message's answer: both are answered
        ("article/how_miss_works", ["article/how_miss_works", "ask_specialist_detail"]),
        # it does not: no multi-question reading (the message keeps its one answer)
        ("article/risks", []),
    ],
)
def test_a_guide_question_beside_a_doctor_query_takes_the_whole_messages_answer(
    piece_guess: str, answers: List[str]
) -> None:
    from rasa.shared.nlu.constants import INTENT, RESPONSE_SELECTOR, TEXT
    from rasa.shared.nlu.training_data.message import Message

    from spine_nlu.question_finder import QuestionFinder

    text = "how is it done through small holes? and dr debnath dwaipayan sits in which hospital"
    pieces = segments(text)
    assert len(pieces) == 2
    assert all(p.asks for p in pieces)
    read = [(pieces[0], piece_guess, 0.12), (pieces[1], "ask_specialist_detail", 0.9)]
    selected = {"intent_response_key": "article/how_miss_works", "confidence": 0.8}
    message = Message(
        data={
            TEXT: text,
            INTENT: {"name": "article", "confidence": 0.9},
            RESPONSE_SELECTOR: {"default": {"response": selected}},
        }
    )
    found = QuestionFinder._beside_doctor(QuestionFinder.__new__(QuestionFinder), message, read)
    assert [q["answer"] for q in found] == answers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is apollo better or fortis for spine surgery", True),
        ("robotic spine surgery vs MISS which is better", True),
        ("a new clinic in our town does keyhole surgery cheaper, is it as good or better", True),
        ("is aiims better than this for my father", True),
        # naming a place is not weighing it
        ("we will come from max hospital side, which doctor is in delhi", False),
        ("is MISS better than open surgery", False),
        ("which is the best doctor for me", False),
        ("who is the best doctor with max experience", False),
        ("is max or apollo better for spine surgery", True),
        # laser surgery weighed against this one; alone it is what many patients call MISS
        ("is laser better than keyhole surgery", True),
        ("keyhole or laser, which one should we pick", True),
        ("what are the upsides of laser spine surgery", False),
        ("is laser spine surgery better than open surgery", False),
    ],
)
def test_comparing_other_hospitals_is_outside_the_guide(text: str, expected: bool) -> None:
    assert compares_places(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please read my MRI and tell me what I have", True),
        ("scan report says facet hypertrophy, how serious is it", True),
        ("x ray says reduced disc space. what does that mean", True),
        ("can you tell from the x-ray which disc is the problem", True),
        # the report as background, or the scans the operation needs
        ("my MRI shows a herniated disc, can keyhole surgery treat it", False),
        ("will they do a new MRI before the operation", False),
        ("my mri showed stenosis. can you explain how the operation is done", False),
        ("the report says keyhole surgery advised, what does that mean", False),
    ],
)
def test_asking_to_read_a_report_is_a_diagnosis(text: str, expected: bool) -> None:
    assert reads_a_report(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("can i keep taking my protein powder after the op", True),
        ("should papa stop aspirin before surgery", True),
        ("is it ok to take ayurvedic medicine with the tablets", True),
        ("can i take painkillers after surgery", False),
        ("how long will i need physiotherapy", False),
    ],
)
def test_supplements_and_blood_thinners_are_for_the_doctor(text: str, expected: bool) -> None:
    assert remedy_question(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok and the other one?", True),
        ("who are the other doctors at the same hospital as him", True),
        ("anyone else at that same hospital", True),
        # the other operation, not the other doctor
        ("and the other one, is its recovery also quick", False),
        ("what is the other option besides surgery", False),
    ],
)
def test_another_doctor_or_the_same_hospital_is_a_doctor_query(text: str, expected: bool) -> None:
    assert other_doctor(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i am 5 months pregnant, can i get keyhole spine surgery now", True),
        ("my mother has osteoporosis, can they still put screws", True),
        ("is EMI option available for the surgery", True),
        ("can PRP or stem cell injection be done instead of surgery", True),
        ("how many days after MISS can i take a flight home", True),
        ("how long is the recovery after a discectomy", False),
        ("will i get general anaesthesia or an epidural", False),
    ],
)
def test_subjects_the_page_does_not_cover(text: str, expected: bool) -> None:
    assert beyond_the_guide(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("then why do some people still get open surgery done", "article/limitations"),
        (
            "my daughter has scoliosis with a big curve, can keyhole surgery fix it",
            "article/limitations",
        ),
        (
            "doctor used the word revision for my old fusion, can it be done by keyhole",
            "article/limitations",
        ),
        ("how long is the recovery after a discectomy", None),
    ],
)
def test_rarely_phrased_guide_questions(text: str, expected: str | None) -> None:
    assert guide_form(text) == expected


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("how soon after the operation can my father board a plane to singapore", True),
        ("is it safe for her to take a long flight two weeks after discectomy", True),
        ("i will fly down from dubai for her surgery, how long is the hospital stay", False),
        ("i fly a320s for a living, what does the surgeon see on the monitor", False),
    ],
)
def test_asking_when_one_may_fly(text: str, asks: bool) -> None:
    assert flying_question(text) is asks
