"""``QuestionFinder``: the questions inside long, indirect and multi-question messages.

Placed after ``RetrievalRouter`` (which has made unsure answers ``nlu_fallback``) and before the
triage components (the red-flag layer stays last and can override anything set here). For a
message of several pieces (:func:`spine_nlu.questions.segments`) it reads each piece with its own
classifier (word and character TF-IDF and a logistic regression over every answer the assistant
has, trained on the NLU examples) and:

0. **Follow-ups** ("and for a fusion?", "how common is that?", ``spine_nlu.follow_ups``): intent
   ``follow_up``; ``action_follow_up`` resolves it against the previous answer.
1. **Several questions**: when two or more pieces that ask something are each confidently a
   different answer (guide answers, doctor queries, the "a doctor must decide" replies), the
   intent becomes ``multi_question`` and ``questions`` lists them in order; the
   ``action_answer_questions`` action answers each.
2. **The question inside a story**: when the whole message came out unsure, out of scope or
   "other health question", but a piece that asks something is confidently a guide answer or a
   doctor query, that answer is given (background such as "my doctor says it is sciatica" or "I
   am a software engineer" no longer pushes the question out of scope).
3. **Grounded fallback**: when the message is still unsure and asks something, the source
   page's closest sentence (``spine_nlu.questions.PassageIndex``, built at training time from
   ``content/source/``) is quoted with its section heading (intent ``guide_passage``,
   ``guide_passage`` in the parse) if it is similar enough; otherwise the clarification stays.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from spine_nlu.follow_ups import follow_up
from spine_nlu.message_utils import override_intent, select_response
from spine_nlu.questions import (
    SOURCE_PAGE,
    SPECIALISTS,
    PassageIndex,
    Segment,
    beyond_the_guide,
    card_query,
    compares_places,
    decision_request,
    doctor_question,
    doctor_surnames,
    far_beyond_the_guide,
    flying_question,
    guide_form,
    mode_question,
    names_a_city,
    names_a_doctor,
    operation_duration,
    other_doctor,
    reads_a_report,
    remedy_question,
    segments,
    success_elsewhere,
    with_context,
)
from spine_nlu.retrieval_router import selected_response
from spine_nlu.triage_model import TriageModel, normalise

logger = logging.getLogger(__name__)

QUESTIONS_KEY = "questions"
PASSAGE_KEY = "guide_passage"
MULTI_INTENT = "multi_question"
PASSAGE_INTENT = "guide_passage"
FOLLOW_UP_INTENT = "follow_up"
FOLLOW_UP_KEY = "follow_up"
FALLBACK_INTENT = "nlu_fallback"
RETRIEVAL_INTENTS = ("faq", "article")
DOCTOR_INTENTS = ("find_specialist", "ask_specialist_detail")
# Questions whose honest answer is that a doctor must decide (each has its own reply).
DOCTOR_MUST_DECIDE = ("ask_diagnosis", "ask_dosage", "ask_treatment_decision", "not_in_guide")
# Whole-message readings a question inside the message may correct.
RESCUABLE = (FALLBACK_INTENT, "out_of_scope", "health_other")
DECISION_INTENT = "ask_treatment_decision"
DIAGNOSIS_INTENT = "ask_diagnosis"
DOSAGE_INTENT = "ask_dosage"
NOT_IN_GUIDE_INTENT = "not_in_guide"
# What the page does not give, whatever guide answer the words resemble: a success rate for
# anything but fusion (the fusion figure would misstate it), how long the operation lasts. Said
# for the whole message and for each question of several.
NOT_GIVEN = (success_elsewhere, operation_duration)
# What only the patient's doctor can answer, and the intent whose reply says so.
FOR_A_DOCTOR = (
    (decision_request, DECISION_INTENT),
    (reads_a_report, DIAGNOSIS_INTENT),
    (remedy_question, DOSAGE_INTENT),
    (flying_question, NOT_IN_GUIDE_INTENT),
    *((asks, NOT_IN_GUIDE_INTENT) for asks in NOT_GIVEN),
)
# Readings that are guesses when the message has no known word at all.
UNKNOWN_WORDS_UNSURE = ("out_of_scope", "health_other", *RETRIEVAL_INTENTS)
MODEL_FILE = "question_finder.joblib"
# The confidence given to a piece that names a listed doctor or asks for doctors by a detail.
DOCTOR_CONFIDENCE = 0.9
FUSION_SUCCESS = "faq/fusion_success_rate"


def selected_key(message: Message) -> str | None:
    """The retrieval answer the message is currently answered with (``faq/recovery_time``)."""
    if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) not in RETRIEVAL_INTENTS:
        return None
    return (selected_response(message) or {}).get(INTENT_RESPONSE_KEY)


def answer_with(message: Message, text: str, label: str, confidence: float) -> None:
    """Answer ``message`` with ``label`` (an answer key such as ``faq/recovery_time``, or an
    intent), recorded as the one question asked in ``text``."""
    if "/" in label:
        select_response(message, label, RETRIEVAL_INTENTS, confidence)
    else:
        override_intent(message, label, confidence)
    message.set(QUESTIONS_KEY, [{"text": text, "answer": label}], add_to_output=True)


def answer_label(example: Message) -> str:
    """What an NLU example asks for: its answer key for retrieval intents, else its intent."""
    return str(example.get(INTENT_RESPONSE_KEY) or example.get(INTENT) or "")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class QuestionFinder(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            # A piece's answer must be at least this likely to count as one of several questions.
            "multi_min_confidence": 0.5,
            # Once one piece is that sure, another piece that is phrased as a question of its
            # own ("...? and is physio always needed afterwards") needs only this much: the
            # patient plainly asked two things, and a short second question has few words to go on.
            "multi_second_min_confidence": 0.25,
            # ... and to replace an unsure or out-of-scope reading of the whole message.
            "rescue_min_confidence": 0.5,
            # Shorter messages are read whole: "knee pain?" has no story around its question.
            "min_words": 6,
            # In a story of at least this many words, a piece that asks something and is at
            # least `story_min_confidence` sure of another guide answer than the whole message's
            # reading is the question (the background pulls the whole message elsewhere).
            "story_min_words": 25,
            "story_min_confidence": 0.6,
            "story_unsure_fallback": True,
            # ... unless the whole story's answer is at least this sure: the background then
            # names the very topic asked about ("my report says spondylolisthesis ... can keyhole
            # surgery treat this slipping bone problem?").
            "story_keep_confidence": 1.1,
            # The cosine similarity from which the page's own sentence is quoted.
            "passage_min_similarity": 0.3,
            "source": str(SOURCE_PAGE),
            "C": 10.0,
            "random_seed": 42,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: TriageModel | None = None,
        passages: PassageIndex | None = None,
        surnames: List[str] | None = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self.passages = passages
        self.surnames = surnames or []

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> QuestionFinder:
        return cls(config, model_storage, resource)

    @staticmethod
    def _source(config: Dict[str, Any]) -> Path:
        path = Path(config.get("source") or SOURCE_PAGE)
        return path if path.is_absolute() else SOURCE_PAGE.parent.parent.parent / path

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str | None:
        """The source page: Rasa's cache keys a component on its config and training data only,
        so an edited page would otherwise keep the old passages."""
        path = cls._source(config)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None

    @staticmethod
    def required_packages() -> List[str]:
        return ["sklearn"]

    def train(self, training_data: TrainingData) -> Resource:
        pairs = [
            (str(e.get(TEXT)), answer_label(e))
            for e in training_data.intent_examples
            if e.get(TEXT) and answer_label(e)
        ]
        self.model = TriageModel.fit(
            [t for t, _ in pairs],
            [label for _, label in pairs],
            C=float(self.component_config["C"]),
            seed=int(self.component_config["random_seed"]),
        )
        self.passages = PassageIndex.from_page(self._source(self.component_config))
        self.surnames = doctor_surnames(SPECIALISTS)
        with self._model_storage.write_to(self._resource) as model_dir:
            joblib.dump((self.model, self.passages, self.surnames), model_dir / MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> QuestionFinder:
        with model_storage.read_from(resource) as model_dir:
            model, passages, surnames = joblib.load(model_dir / MODEL_FILE)
        return cls(config, model_storage, resource, model, passages, surnames)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    # --- prediction -----------------------------------------------------------------------

    @staticmethod
    def answerable(label: str) -> bool:
        return "/" in label or label in DOCTOR_INTENTS + DOCTOR_MUST_DECIDE

    @staticmethod
    def informative(label: str) -> bool:
        """A guide answer or a doctor query (not only "a doctor must decide")."""
        return "/" in label or label in DOCTOR_INTENTS

    def read(
        self, pieces: Sequence[Segment], texts: Sequence[str]
    ) -> List[Tuple[Segment, str, float]]:
        """Each piece with its most likely answer and that answer's probability, read by its
        text in ``texts`` (:func:`spine_nlu.questions.with_context`)."""
        assert self.model is not None
        out = []
        probabilities = self.model.probabilities(list(texts))
        for piece, probs in zip(pieces, probabilities, strict=True):
            label = max(probs, key=probs.__getitem__)
            confidence = float(probs[label])
            doctor = doctor_question(piece.text, self.surnames)
            if doctor:
                # A listed doctor named, or doctors asked for by what their cards show: a
                # doctor query whatever the words around it suggest.
                if label not in DOCTOR_INTENTS:
                    label = doctor
                confidence = max(confidence, DOCTOR_CONFIDENCE)
            elif any(asks(piece.text) for asks in NOT_GIVEN):
                label, confidence = NOT_IN_GUIDE_INTENT, max(confidence, DOCTOR_CONFIDENCE)
            out.append((piece, label, confidence))
        return out

    def knows_a_word(self, text: str) -> bool:
        """Whether any word of ``text`` occurs in the answers' training examples."""
        assert self.model is not None
        return bool(self.model.words.transform([normalise(text)]).nnz)

    def _questions(self, read: Sequence[Tuple[Segment, str, float]]) -> List[Dict[str, Any]]:
        """The confidently answerable questions, one per answer, in the order asked."""
        floor = float(self.component_config["multi_min_confidence"])
        asking = [(piece, label, p) for piece, label, p in read if piece.asks]
        if len(asking) >= 2 and any(p >= floor for _, _, p in asking):
            floor = float(self.component_config["multi_second_min_confidence"])
        found: Dict[str, Dict[str, Any]] = {}
        for piece, label, p in asking:
            if self.answerable(label) and p >= floor and label not in found:
                found[label] = {"text": piece.text, "answer": label, "confidence": round(p, 4)}
        questions = list(found.values())
        if len(questions) < 2 or not any(self.informative(q["answer"]) for q in questions):
            return []
        return questions

    def _beside_doctor(
        self, message: Message, read: Sequence[Tuple[Segment, str, float]]
    ) -> List[Dict[str, Any]]:
        """A doctor query beside one guide question whose piece alone reads too unsurely ("how
        exactly is it done through small holes? and dr X sits in which hospital"): the answer the
        response selector chose for the whole message (surer than one piece's TF-IDF) answers
        that piece, when it is also the piece's own best guess."""
        asking = [r for r in read if r[0].asks]
        doctors = [r for r in asking if r[1] in DOCTOR_INTENTS]
        others = [r for r in asking if r[1] not in DOCTOR_INTENTS]
        key = (selected_response(message) or {}).get(INTENT_RESPONSE_KEY)
        if len(doctors) != 1 or len(others) != 1 or not key or others[0][1] != key:
            return []
        return [
            {"text": piece.text, "answer": label, "confidence": round(p, 4)}
            for piece, label, p in asking
        ]

    def _rescue(self, message: Message, read: Sequence[Tuple[Segment, str, float]]) -> bool:
        floor = float(self.component_config["rescue_min_confidence"])
        asking = [r for r in read if r[0].asks] or list(read)
        candidates = [r for r in asking if self.informative(r[1]) and r[2] >= floor]
        if not candidates:
            return False
        piece, label, p = max(candidates, key=lambda r: r[2])
        answer_with(message, piece.text, label, p)
        return True

    def _story(self, message: Message, read: Sequence[Tuple[Segment, str, float]]) -> bool:
        """A guide answer chosen for the whole story, while the piece that asks is confidently
        about something else: answer the piece."""
        current = selected_key(message)
        if current is None:
            return False
        floor = float(self.component_config["story_min_confidence"])
        asking = [r for r in read if r[0].asks]
        if any(label == current for _, label, _ in asking):
            return False
        candidates = [r for r in asking if "/" in r[1] and r[2] >= floor]
        if not candidates:
            whole = float((selected_response(message) or {}).get("confidence") or 0)
            if whole >= float(self.component_config["story_keep_confidence"]):
                return False
            if asking and self.component_config["story_unsure_fallback"]:
                # The question reads as something else, but not surely: better the page's own
                # words for it, or a clarifying question, than an answer to the background.
                override_intent(message, FALLBACK_INTENT, 1.0)
                self._quote(message, [r[0] for r in asking])
                return True
            return False
        piece, label, p = max(candidates, key=lambda r: r[2])
        answer_with(message, piece.text, label, p)
        return True

    @staticmethod
    def _asks_beyond(pieces: Sequence[Segment], texts: Sequence[str]) -> bool:
        """Whether the message asks about a subject the page does not cover at all ("can MISS
        treat piriformis syndrome", "I have ankylosing spondylitis. Can MISS help that"): named
        where it asks, or in the statement a short question points back to. Background alone
        ("my brother sells insurance. what are the risks of MISS") keeps the guide's answer."""
        return any(
            piece.asks and far_beyond_the_guide(text)
            for piece, text in zip(pieces, texts, strict=True)
        )

    def _quote(self, message: Message, pieces: Sequence[Segment]) -> None:
        if self.passages is None:
            return
        asking = [p for p in pieces if p.asks]
        if not asking:
            return
        best, score = None, 0.0
        for piece in asking:
            passage, similarity = self.passages.best(piece.text)
            if passage is not None and similarity > score:
                best, score = passage, similarity
        if best is None or score < float(self.component_config["passage_min_similarity"]):
            return
        override_intent(message, PASSAGE_INTENT, round(score, 4))
        message.set(
            PASSAGE_KEY,
            {"section": best.section, "text": best.text, "similarity": round(score, 4)},
            add_to_output=True,
        )

    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None:
            raise RuntimeError("QuestionFinder is not trained: retrain the model")
        for message in messages:
            text = str(message.get(TEXT) or "")
            if text.startswith(("/", "topic:")):
                continue  # buttons carry their own meaning
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if intent in UNKNOWN_WORDS_UNSURE and not self.knows_a_word(text):
                # "asdfgh qwerty": no word any answer was trained on, so no reading of it is
                # better than a guess; the clarification says what the assistant covers.
                override_intent(message, FALLBACK_INTENT, 1.0)
                continue
            follow = follow_up(text)
            if follow is not None and follow.kind == "success" and follow.term == "fusion":
                # It says what it asks about, so it needs no previous answer: the guide's one
                # success rate is the fusion's (FAQ 3).
                answer_with(message, text, FUSION_SUCCESS, DOCTOR_CONFIDENCE)
                continue
            if follow is not None:
                override_intent(message, FOLLOW_UP_INTENT, 1.0)
                message.set(
                    FOLLOW_UP_KEY, {"kind": follow.kind, "term": follow.term}, add_to_output=True
                )
                continue
            pieces = segments(text)
            texts = with_context(pieces)
            words = len(text.split())
            story_words = int(self.component_config["story_min_words"])
            # Only a doctor can answer some questions, whatever guide answer the words resemble
            # (unless other questions come too), and each has its reply saying so: "just tell me
            # yes or no, should I do MISS" (a decision), "pls explain my MRI" (a diagnosis), "can
            # he stop his blood thinner" (a medicine). "is fortis better than apollo for this":
            # the guide compares no hospitals (a story names its other hospitals as background).
            outside = None
            if intent in RESCUABLE + RETRIEVAL_INTENTS:
                outside = next((reply for asks, reply in FOR_A_DOCTOR if asks(text)), None)
            if outside is None and (
                intent in RESCUABLE + RETRIEVAL_INTENTS + ("find_specialist",)
                and words < story_words
                and compares_places(text)
                and not names_a_doctor(text, self.surnames)
            ):
                outside = NOT_IN_GUIDE_INTENT
            if (
                outside is None
                and intent in RETRIEVAL_INTENTS
                and words < story_words
                and self._asks_beyond(pieces, texts)
            ):
                outside = NOT_IN_GUIDE_INTENT
            long_enough = words >= int(self.component_config["min_words"])
            if long_enough and len(pieces) >= 2:
                read = self.read(pieces, texts)
                questions = self._questions(read) or self._beside_doctor(message, read)
                if questions:
                    override_intent(message, MULTI_INTENT, 1.0)
                    message.set(QUESTIONS_KEY, questions, add_to_output=True)
                    continue
                if outside:
                    override_intent(message, outside, DOCTOR_CONFIDENCE)
                    continue
                if intent in RESCUABLE and self._rescue(message, read):
                    continue
                if (
                    words >= story_words
                    and intent in RETRIEVAL_INTENTS
                    and self._story(message, read)
                ):
                    continue
            if outside:
                override_intent(message, outside, DOCTOR_CONFIDENCE)
                continue
            # A story mentions its doctors and towns in passing; only a short message is a
            # doctor query as a whole (a story's questions were read piece by piece above).
            # What only the cards answer is a doctor query in a message shorter than a story
            # too ("someone with more than 15 yrs experience only, who all are there").
            asking = [piece for piece in pieces if piece.asks]
            short = (
                len(pieces) <= 1
                or words <= story_words // 2
                or (words < story_words and card_query(text))
                # "dr mayank nakipuria is in which hospital exactly? we will come from haldwani":
                # the one question names a listed doctor
                or (
                    words < story_words
                    and len(asking) == 1
                    and names_a_doctor(asking[0].text, self.surnames)
                )
            )
            doctor = doctor_question(text, self.surnames) if short else None
            # Over a guide answer only when a listed doctor is named: "which specialist should
            # I visit" and "has a doctor reviewed this guide" are the guide's questions.
            # A listed doctor's city with a doctor word ("any spine doctor in kolkata") is a
            # doctor query too, and so is what only the cards answer ("the cheapest doctor").
            cards_only = doctor is not None and card_query(text)
            if (
                doctor == "find_specialist"
                and intent not in RESCUABLE
                and not names_a_city(text, self.surnames)
                and not cards_only
            ):
                doctor = None
            # A booking fee is never a request to cancel: "any booking charge on top?".
            # "cheapest consultation?" asks which doctor, not to book one yet, and what the cards
            # answer is never outside the guide.
            rescued = (
                RESCUABLE
                + RETRIEVAL_INTENTS
                + (("cancel",) if doctor == "ask_specialist_detail" else ())
                + (("book_appointment", "not_in_guide") if doctor and cards_only else ())
                # "is dr mayank available for video consult? rudrapur is far": a card detail
                + (
                    ("book_appointment", "find_specialist")
                    if doctor == "ask_specialist_detail" and mode_question(text)
                    else ()
                )
                # "who are the other doctors at the same hospital as him" is not "who are you"
                + (
                    ("bot_challenge",)
                    if doctor == "ask_specialist_detail" and other_doctor(text)
                    else ()
                )
            )
            if doctor and intent in rescued:
                # "dr gopal achari is ortho or neuro?", "which doctors have no booking fees":
                # the cards answer it, whatever guide answer the words resembled.
                override_intent(message, doctor, DOCTOR_CONFIDENCE)
                continue
            if intent == FALLBACK_INTENT:
                # Unsure of every reading: a question form the guide answers, a subject it does
                # not cover, else its closest passage. Read in the whole message: the subject
                # ("my mother has osteoporosis") is often apart from the piece that asks ("can
                # they still put screws").
                form = guide_form(text)
                if form is not None:
                    answer_with(message, text, form, DOCTOR_CONFIDENCE)
                elif beyond_the_guide(text):
                    override_intent(message, NOT_IN_GUIDE_INTENT, DOCTOR_CONFIDENCE)
                else:
                    self._quote(message, pieces)
        return messages
