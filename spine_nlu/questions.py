"""Finding the questions in what patients write, and the guide's own passages (pure helpers).

Patients write stories: background first ("i am a software engineer, my doctor says it is
sciatica"), the question somewhere inside, often two at once ("how long is the cut and how many
days in hospital?"). A classifier that reads the whole message is pulled towards the background.
:func:`segments` cuts a message into sentences and joined questions, and marks which ones ask
something, so each can be read on its own.

:func:`guide_sections` reads the source page (``content/source/``) into its headed sections, and
:class:`PassageIndex` finds the page's own sentences closest to a question: the grounded answer
when the classifiers are unsure, quoted with its section, never generated.

No Rasa imports: the NLU component, the evaluation and the tests use these directly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from spine_content.specialists_directory import THE_OTHER
from spine_nlu.follow_ups import TERMS

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PAGE = ROOT / "content" / "source" / "miss_guide.txt"
SPECIALISTS = ROOT / "content" / "specialists.yml"
# Reading a pasted essay costs time on every message: the question is in the first part.
MAX_CHARS = 2000
MAX_SEGMENTS = 12

_SENTENCE_END = re.compile(
    r"(?<=[?!])\s*|(?<=[.;])\s+(?=\S)|\s*\n+\s*|\s+(?=\(?\d{1,2}[.)]\s+[^\W\d_])"
)
_QUESTION_WORD = (
    r"what|whats|what's|wat|wats|wht|whts|how|which|when|where|who|whom|why|is|are|am|can|could|cud|will|"
    r"would|do|does|did|should|shall|may|might|any|is there|are there|tell|explain|pls|please|"
    r"kindly|plz"
)
# A second question joined to the first: "... and how long in hospital", ", also is it safe".
_JOINED = re.compile(
    rf"(?:,\s*|\s+)(?:and|also|plus|n|&)\s+(?:also\s+)?(?=(?:{_QUESTION_WORD})\b)|"
    rf",\s*(?=(?:also|{_QUESTION_WORD})\b)",
    re.IGNORECASE,
)
_WH = r"what|whats|what's|wat|wats|wht|whts|how|which|when|where|who|whom|why"
_ASKS = re.compile(
    rf"\?|^\s*(?:and\s+|also\s+|so\s+|but\s+|then\s+|ok\s+)?(?:{_QUESTION_WORD})\b|"
    # (not a clause of time: "pain in legs when walking")
    rf"^\W*(?:[\w']+\W+){{0,3}}?(?:{_WH})\b(?!\s+\w{{3,}}ing\b)|"
    # an inverted question inside the sentence: "and after a fusion can my husband go jogging"
    r"\b(?:can|could|will|would|should|shall|may|do|does|did|is|are)\s+"
    r"(?:i|we|he|she|they|my|his|her|it|you|u|this|that|there)\b|"
    r"\b(?:wondering|want to know|wanted to know|wanna know|want to ask|wanted to ask|"
    r"would like to know|like to know|need to know|can you tell|could you tell|let me know|"
    r"tell me|confused (?:about|whether)|not sure (?:if|whether)|my question|doubt (?:is|about)|"
    r"is it (?:true|possible|safe|ok|okay|normal)|possible to|is it|are there|do i|will i|"
    r"can i|should i|how long|how much|how many)\b|"
    # a question word with its verb anywhere: "and for fusion specifically wats the success rate"
    rf"\b(?:{_WH})\s+(?:is|are|r|the|has|have|will|can|does|do)\b|\br (?:there|u|they)\b|"
    # a request or a question word at the end: "main benefits pls", "physio starts when",
    # "fee kitna hai", "compulsary after or optional"
    r"\b(?:pls|please|plz|kindly|when|where|kab|kitna|kitni|kitne|kaise|kyun)\W*$|"
    r"\b(?:kitna|kitni|kitne|kya|kaise|kab|kaun|kahan)\s+(?:hai|h|he|hain|hoga|hogi)\W*$|"
    r"\bor (?:not|no|optional|what)\W*$|"
    # the question word inside its last phrase: "dr x sits in which hospital", "from what age"
    r"\b(?:in|at|from|to|of|with|for)\s+(?:which|what|wat)\s+\w+\W*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+")
# "1) how does ...", "2. what ...", "(3) is ...", "Q2 is ...", "- can ...": list markers before a
# question.
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.):]?|[qQ]\s?\d{1,2}[.):]?|[a-c]\)|[-*•])\s+")


@dataclass(frozen=True)
class Segment:
    text: str
    asks: bool  # phrased as a question or a request to know something


def asks_something(text: str) -> bool:
    return bool(_ASKS.search(text))


# "what is that", "can this be treated by the keyhole method": a short question whose subject is
# a word that points back.
_POINTER = re.compile(r"\b(?:that|this|it|these|those|they|them)\b", re.IGNORECASE)
POINTER_MAX_WORDS = 8


def with_context(pieces: Sequence[Segment]) -> List[str]:
    """Each piece's text to read it by: a short question that points back ("doc mentioned
    foraminotomy. what is that?") is read with the statement before it, which names what it
    asks about. After another question the pointer may mean that question's answer, so the
    piece is read alone."""
    texts = []
    for i, piece in enumerate(pieces):
        before = pieces[i - 1] if i else None
        if (
            before is not None
            and piece.asks
            and not before.asks
            and len(_WORD.findall(piece.text)) <= POINTER_MAX_WORDS
            and _POINTER.search(piece.text)
        ):
            texts.append(f"{before.text} {piece.text}")
        else:
            texts.append(piece.text)
    return texts


def segments(text: str) -> List[Segment]:
    """Sentences, and questions joined by "and"/"also", each marked whether it asks something
    (a question, a request, or doctors ranked by their cards: "cheapest option in delhi then").
    Pieces of fewer than two words join their neighbour ("ok." "thanks")."""
    pieces: List[str] = []
    for sentence in _SENTENCE_END.split((text or "")[:MAX_CHARS]):
        parts = [p for p in _JOINED.split(sentence) if p and p.strip()]
        for part in parts:
            part = _LIST_MARKER.sub("", part).strip(" ,.;-")
            if not part:
                continue
            if pieces and len(_WORD.findall(part)) < 2:
                pieces[-1] = f"{pieces[-1]} {part}"
            else:
                pieces.append(part)
    if len(pieces) > MAX_SEGMENTS:
        pieces = pieces[: MAX_SEGMENTS - 1] + [" ".join(pieces[MAX_SEGMENTS - 1 :])]
    return [Segment(p, asks_something(p) or ranks_doctors(p)) for p in pieces if _WORD.search(p)]


# --- doctor questions -----------------------------------------------------------------------

_DOCTOR_WORD = re.compile(
    r"\b(?:dr|doc|docs|doctor|doctors|surgeon|surgeons|specialist|specialists|neurosurgeons?|"
    r"docters?|doctrs?|dactors?|daktars?|sergeons?|surgens?|"
    r"anyone|someone|somebody|which of (?:them|these|those)|among (?:them|these|those))\b",
    re.IGNORECASE,
)
_CARD_DETAIL = re.compile(
    r"\b(?:fee|fees|charge\w*|cost|consultation|rs|rupees|patients|rating|rated|"
    r"recommendation|experi[ae]nce\w*|years|senior\w*|sabse|"
    r"hospital|clinic|sit|sits|opd|qualif\w*|degree|mch|dnb|booking|cheap\w*|costl\w*|"
    r"expensive|best|top|list|available|online|city|where|practi[cs]\w*|longest)\b",
    re.IGNORECASE,
)

# A short follow-up about the doctor just shown: "which hospital is he at?", "the kolkata one,
# which hospital?", "ok and booking fee?". A booking fee is only ever a card's; the guide has none.
_PERSON = re.compile(
    r"\b(?:he|him|his|she|her|that one|this one|the \w+ one|that doctor|this doctor)\b",
    re.IGNORECASE,
)
_PERSON_DETAIL = re.compile(
    r"\b(?:hospital|clinic|fee|fees|charges?|consultation|experience|qualif\w*|degree|rating|"
    # the cards' hospitals by name: "is he at apollo indraprastha?"
    r"rated|booking|online|video|opd|sits?|apollo|indraprastha|katyayani|"
    # "the cheaper one?": a comparison among the doctors in view
    r"cheaper|costlier|more expensive|more experienced|senior\w*)\b",
    re.IGNORECASE,
)
_BARE_DETAIL = re.compile(
    r"^\W*(?:(?:and|ok|okay|so|also|then|but|hmm)\W+)*(?:(?:which|what) hospital\b|"
    r"(?:based on )?how many patients\b|"
    # "how many yrs exp", "how many years of practice"
    r"how many (?:yrs|years)\b[^.?!]{0,12}\b(?:exp|experience|practi[cs]\w*)\b|"
    r"(?:his |her |their )?(?:ratings?|fees?|experience|qualifications?)\W*$|"
    # "out of these the cheaper one?", "of those two who is more experienced"
    r"(?:(?:out )?of (?:these|those|them|the two)|among (?:these|those|them)|between them)\b"
    r"[^.?!]{0,40}\b(?:cheap\w*|costl\w*|fee\w*|experi[ae]nc\w*|senior\w*|rat(?:ing|ed)\w*|"
    r"booking)|"
    r"(?:any |is there (?:a |any )?)?booking (?:fee|charge|amount)\w*)",
    re.IGNORECASE,
)
FOLLOW_UP_MAX_WORDS = 8

# What only the cards answer, never the guide: the cheapest or most experienced doctor, a fee
# or experience limit, the best rated, the most patients ("cheapest consultation?", "which
# doctor's fee is less than 1000 rupees", "experience 15 saal se zyada"). First the doctors
# ranked or limited by fees, ratings and patients seen:
_RANKING = (
    # "cheap" about a doctor, a visit or an option, not "the cheapest way to recover"
    r"(?:cheap\w*|sast[aeio]|costliest|priciest|most expensive)"
    r"(?=[^.?!]{0,25}\b(?:consult\w*|fees?|charges?|doc\w*|dr|surgeon\w*|specialist\w*|"
    r"one|option|kaun|hospital)\b|\W*$)|"
    r"(?:lowest|least|minimum|highest|maximum|kam) (?:(?:consultation|consulting|opd) )?"
    r"(?:fee|fees|charges?)|"
    r"(?:fee|fees|charges?|consultation)\b[^.?!]{0,20}\b(?:under|below|less than|within|upto|"
    r"up to)\s*(?:₹|rs\.?|inr)?\s*\d{3,}|"
    r"(?:under|below|less than|within|upto|up to)\s*(?:₹|rs\.?|inr)?\s*\d{3,}\s*"
    r"(?:₹|rs\.?|inr|rupees|fee|fees)|"
    r"most experienced|(?:best|highest|top)[ -]rated|(?:highest|best) rating|"
    # "which doctor has seen the most patients", not "do most patients need a transfusion"
    r"(?:seen|treated|operated|handled|has|have)\s+(?:the\s+)?most\s+patients"
)
# "the cheaper one, what is his fee" points at a doctor in view; it ranks nothing
_RANKS = re.compile(rf"\b(?!cheaper\b)(?:{_RANKING})\b", re.IGNORECASE)
# ... and by years of experience, which a patient's own story also counts ("pain for more than
# 10 years")
_CARD_ONLY = re.compile(
    rf"\b(?:{_RANKING}|"
    r"(?:more than|over|above|at ?least|minimum)\s*\d{1,2}\s*\+?\s*(?:years|yrs|saal)|"
    r"\d{1,2}\s*(?:years|yrs|saal)\s*(?:se|say)\s*(?:zyada|jyada|zada|adhik|upar|jada))\b",
    re.IGNORECASE,
)

# Asking the assistant to decide the treatment: "just tell me yes or no", "should i go for the
# surgery or keep doing physio". Only a doctor can; the guide never answers it.
_DECISION = re.compile(
    # "why should i choose it" asks for reasons, not for a decision
    r"(?<!why )(?<!what )(?<!how )(?<!which )(?<!when )(?<!where )"
    r"\b(?:should|shud|shld) (?:i|we|he|she|my \w+|mom|dad|papa|mummy) "
    r"(?:go for|go ahead with|do|get|have|undergo|opt for|choose|take)\b"
    r"(?:(?! after| before| when| during)[^.?!]){0,30}"
    r"\b(?:surgery|operation|opration|operated|miss|it|this|the op)\b(?:[^.?!]{0,40}\bor\b)?|"
    r"\byes or no\b[^.?!]{0,40}\b(?:surgery|operation|miss|should|go for)\b|"
    r"\b(?:surgery|operation|miss|should|or not)\b[^.?!]{0,60}\byes or no\b|"
    # "do i really need surgery or can i avoid it", "is this surgery right for her or not",
    # "will i qualify or not": the patient's own case, put as a choice only a doctor makes
    r"\b(?:do|does|will) (?:i|we|he|she|my \w+) (?:really |actually |definitely )?need "
    r"(?:the |this |an? )?(?:surgery|operation|op)\b[^.?!]{0,30}\bor\b|"
    r"\bright for (?:me|him|her|us|my \w+)\b[^.?!]{0,15}\bor not\b|"
    # asked of the patient, not "what decides if i am suitable or not" (the guide's factors)
    r"\b(?:will|would|am|is|are) (?:i|he|she|we|my \w+) (?:\w+ )?(?:qualify|eligible|suitable) "
    r"or not\b",
    re.IGNORECASE,
)


def decision_request(text: str) -> bool:
    """Whether the message asks the assistant to decide on the operation for the patient."""
    return bool(_DECISION.search(text or ""))


# Another hospital, or robotic surgery, weighed against this one: "is fortis better than apollo",
# "robotic spine surgery vs MISS". The guide compares no hospitals and no robots; the honest reply
# says so (not_in_guide), whatever passage the words resemble.
_OTHER_PLACE = re.compile(
    r"\b(?:fortis|max (?:hospital|healthcare|super|saket)|(?:apollo|fortis) or max|"
    r"max or (?:apollo|fortis)|medanta|aiims|pgi|pgimer|manipal|narayana|kokilaben|hinduja|"
    r"lilavati|jaslok|ruby hall|cmc|kims|yashoda|artemis|ganga ram|robotic|robot|"
    r"(?:government|govt|another|other|local|private|new) (?:hospital|clinic))\b",
    re.IGNORECASE,
)
_COMPARES = re.compile(
    r"\b(?:better|best|vs|versus|compare\w*|superior|good or|safer)\b", re.IGNORECASE
)


# Laser surgery weighed against this one ("is laser better than this endoscope method"). Alone,
# "laser spine surgery" is what many patients call MISS, and the guide's answers fit it.
_LASER_VS = re.compile(
    r"\blaser\b[^.?!]{0,60}\b(?:better|vs|versus|compared?|same as|superior|safer)\b"
    r"[^.?!]{0,40}\b(?:this|miss|keyhole|endoscop\w*|minimally|yours)\b|"
    r"\b(?:this|miss|keyhole|endoscop\w*)\b[^.?!]{0,30}\b(?:or|vs|versus|better than)\b"
    r"[^.?!]{0,20}\blaser\b",
    re.IGNORECASE,
)


def compares_places(text: str) -> bool:
    """Whether ``text`` weighs another hospital, robotic or laser surgery, against this guide's."""
    text = text or ""
    return bool(_OTHER_PLACE.search(text) and _COMPARES.search(text) or _LASER_VS.search(text))


# How long the operation itself lasts ("how many hours does the MISS opration take? we have to
# tell relatives when to come"): the page never says, whatever recovery answer the words
# resemble.
_DURATION = re.compile(
    r"\bhow (?:many hours|long)\b(?:(?!recover|heal|rest\b|leave|off\b|stay|back\b)[^.?!]){0,25}"
    r"\b(?:operation|opration|surgery|procedure|op)\b"
    r"(?: \w+)?\s+(?:itself\s+)?(?:take|takes|last|lasts)\b(?!\s+to\b)(?![^.?!]{0,20}\brecover)|"
    r"\bhow many hours\b[^.?!]{0,30}\b(?:inside|in)(?: the)? (?:ot|operation theat\w+)\b|"
    r"\bduration of (?:the )?(?:operation|surgery|procedure)\b",
    re.IGNORECASE,
)


def operation_duration(text: str) -> bool:
    """Whether ``text`` asks how long the operation itself lasts."""
    return bool(_DURATION.search(text or ""))


# Subjects the page does not cover at all: pregnancy, flying, paying, other conditions and
# treatments, food, the hospital's own services; the honest reply is that the guide does not answer
# it, and who can.
_FAR_SUBJECTS = (
    r"pregnan\w*|breast ?feed\w*|flights?|fly|flying|emi|loan|instal+ments?|insurance|cashless|"
    r"mediclaim|sacroiliac|si joint|piriformis|ankylosing|tailbone|coccyx|prp|stem cells?|"
    r"(?:epidural )?steroid injections?|epidural injections?|ozone|visiting hours|attendants?|"
    r"jain food|diet|eat|eating|foods?|mattress|sleeping position|complication rate"
)
_FAR = re.compile(rf"\b(?:{_FAR_SUBJECTS})\b", re.IGNORECASE)
# ... and bone density and blood sugar, which the page touches (spinal fractures, a patient's
# overall health): read only where no answer of the guide was found.
_BEYOND = re.compile(
    rf"\b(?:{_FAR_SUBJECTS}|osteoporo\w*|dexa|bone density|sugar level|blood sugar|hba1c)\b",
    re.IGNORECASE,
)


# When the patient may fly after the operation ("how many days after MISS can she take a 16 hour
# flight"): the page says nothing about air travel, whatever recovery answer the words resemble.
# Flying told as background ("i will fly down for it") asks nothing.
_FLYING = re.compile(
    r"\b(?:when|how soon|how long|how many (?:days|weeks)|(?:can|could) (?:i|he|she|we|they)|"
    r"allowed to|permitted to|safe (?:for \w+ )?to|fit to)\b[^.?!]{0,60}"
    r"\b(?:fly|flying|flights?|aeroplane|airplane|plane|air travel|travel by air)\b",
    re.IGNORECASE,
)


def flying_question(text: str) -> bool:
    """Whether ``text`` asks when the patient may fly after the operation."""
    return bool(_FLYING.search(text or ""))


# A success rate asked for ("the success rate of endoscopic discectomy?", "how successful is a
# laminectomy"): the page gives one for fusion only (FAQ 3).
_SUCCESS_RATE = re.compile(
    r"\b(?:success (?:rate|percentage|percent|%|ratio)|how successful|chances? of success|"
    r"successful in (?:how many|what percent\w*))\b",
    re.IGNORECASE,
)
# Procedures the page describes but gives no success rate for.
_NO_SUCCESS_RATE = ("discectomy", "laminectomy", "open_surgery")


def success_elsewhere(text: str) -> bool:
    """Whether ``text`` asks the success rate of a procedure other than fusion: the procedure
    named first after the question, or before it in the same sentence."""
    for sentence in _SENTENCE_END.split(text or ""):
        asked = _SUCCESS_RATE.search(sentence)
        if not asked:
            continue
        after, before = sentence[asked.end() :].lower(), sentence[: asked.start()].lower()
        for part in (after, before):
            named = [
                (m.start(), term)
                for term, pattern in TERMS.items()
                for m in re.finditer(rf"\b(?:{pattern})\b", part)
            ]
            if named:
                return min(named)[1] in _NO_SUCCESS_RATE
    return False


def beyond_the_guide(text: str) -> bool:
    """Whether ``text`` asks about a subject the page does not cover, or only touches."""
    return bool(_BEYOND.search(text or ""))


def far_beyond_the_guide(text: str) -> bool:
    """Whether ``text`` asks about a subject the page does not cover at all: said even over
    an answer of the guide ("can MISS treat piriformis syndrome")."""
    return bool(_FAR.search(text or ""))


# Questions the guide answers in a form its examples rarely take, each with its answer: why open
# surgery is still done, a large curve or a repeat operation by the keyhole method (both its
# limitations). Read only where no answer of the guide was found.
GUIDE_FORMS = (
    (
        re.compile(
            r"\bwhy (?:do|does|would|are|is)? ?(?:some|surgeons?|doctors?|people|patients|they|"
            r"hospitals?)\b[^.?!]{0,30}\bopen\b|"
            r"\b(?:scoliosis|big curve|large curve|bent spine|spine is bent|s shape|deformit\w*|"
            r"revision|redo)\b",
            re.IGNORECASE,
        ),
        "article/limitations",
    ),
)


def guide_form(text: str) -> str | None:
    """The guide answer a rarely phrased question asks for (``GUIDE_FORMS``), if any."""
    return next((key for pattern, key in GUIDE_FORMS if pattern.search(text or "")), None)


# Asking the assistant to read a report or scan ("pls explain my MRI: ...", "if i send a photo
# of my x ray can you tell which disc is damaged"): a diagnosis, which only a doctor can give,
# whatever condition the report's words resemble.
_REPORT = r"(?:mri|x[- ]?ray|xray|ct scan|scan|report|dexa|films?)"
_READ_IT = re.compile(
    rf"\b(?:explain|interpret|read|check|look at)\s+(?:(?:my|the|her|his|this|our)\s+)?"
    rf"(?:\w+\s+)?{_REPORT}\b|"
    rf"\b{_REPORT}\b[^?!]{{0,120}}\b(?:what does (?:it|this|that) mean|what it means|"
    r"is (?:it|this|that) serious|how (?:bad|serious) is)\b|"
    r"\bcan (?:you|u) tell (?:me )?(?:from|by|which disc)\b",
    re.IGNORECASE,
)


# "the doctor wrote MISS on my report, what does that mean" asks about the guide's subject
_GUIDE_SUBJECT = re.compile(r"\b(?:miss|minimally invasive|keyhole|key hole)\b", re.IGNORECASE)


def reads_a_report(text: str) -> bool:
    """Whether ``text`` asks the assistant to read or explain the patient's own report."""
    return bool(_READ_IT.search(text or "")) and not _GUIDE_SUBJECT.search(text or "")


# Whether to take, keep taking or stop a supplement, a herbal remedy or a blood thinner: a
# question for the patient's doctor (the guide names none of them).
_REMEDY = re.compile(
    r"\b(?:can|could|should|shall|may|is it ok(?:ay)? to|is it safe to)\s+(?:i|we|he|she|my \w+|"
    r"mom|dad|papa|mummy)?\s*(?:keep |continue |still )?(?:tak\w*|continu\w*|stop\w*|have|"
    r"use|start\w*)\b[^.?!]{0,60}\b(?:whey|creatine|protein powder|supplements?|ashwagandha|"
    r"ayurved\w*|homeo\w*|herbal|vitamins?|blood thinners?|aspirin|ecosprin|clopidogrel|"
    r"warfarin)\b",
    re.IGNORECASE,
)


def remedy_question(text: str) -> bool:
    """Whether ``text`` asks about taking or stopping a supplement, remedy or blood thinner."""
    return bool(_REMEDY.search(text or ""))


def names_a_city(text: str, names: Sequence[str]) -> bool:
    """Whether ``text`` names the city of a listed doctor (``names`` as doctor_surnames gives)."""
    return _names_a(text, names, "city:")


def names_a_doctor(text: str, names: Sequence[str]) -> bool:
    """Whether ``text`` names a listed doctor ("is dr bhati better than the fortis one")."""
    return _names_a(text, names, "name:")


def _names_a(text: str, names: Sequence[str], prefix: str) -> bool:
    lowered = text.lower()
    return any(
        re.search(rf"\b{re.escape(n[len(prefix):])}\b", lowered)
        for n in names
        if n.startswith(prefix)
    )


# "does dr achari do video consult?", "is he available online?": whether a doctor offers a mode
# (a card detail, not listed on this page), unlike "book a video consult with dr achari".
_MODE_QUESTION = re.compile(
    r"\b(?:does|do|is|are|can i|can we|could i|available)\b[^.?!]{0,40}"
    r"\b(?:online|video|tele\w*|whatsapp call)\b",
    re.IGNORECASE,
)


# "can i first talk to a doctor online for an initial check": the guide's advice for whoever is
# unsure whether they qualify (its candidacy section), not a question about one doctor's card
_FIRST_ONLINE = re.compile(
    r"\b(?:first|initial|before (?:travel\w*|visit\w*|coming|going))\b[^.?!]{0,50}"
    r"\b(?:online|video)\b|"
    r"\b(?:online|video)\b[^.?!]{0,40}\b(?:first|initial|before (?:travel\w*|visit\w*|coming))\b",
    re.IGNORECASE,
)


def first_consult_online(text: str) -> bool:
    """Whether ``text`` asks about a first evaluation online without naming or pointing at a
    doctor."""
    return bool(_FIRST_ONLINE.search(text or "")) and not _PERSON.search(text or "")


def mode_question(text: str) -> bool:
    """Whether ``text`` asks if a doctor consults online or by video (and does not ask to book)."""
    return bool(_MODE_QUESTION.search(text or "")) and not re.search(
        r"\b(?:book\w*|appointment|schedule)\b", text or "", re.IGNORECASE
    )


def ranks_doctors(text: str) -> bool:
    """Whether ``text`` ranks or limits the doctors by a fee, a rating or patients seen ("who is
    the most expensive one, i assume he is the senior most"): a doctor query in any message
    shorter than a story, asked as a question or not ("cheapest option in delhi then")."""
    return bool(_RANKS.search(text or ""))


def card_query(text: str) -> bool:
    """Whether ``text`` asks what only the doctors' cards answer (a fee or experience limit or
    superlative, the best rated, the most patients): never a guide question."""
    return bool(_CARD_ONLY.search(text or ""))


# "what about the other one" after two operations were explained is about the other operation
_GUIDE_TOPIC = re.compile(
    r"\b(?:recover\w*|surgery|surgeries|operations?|op|procedures?|fusion|discectomy|"
    r"laminectomy|methods?|techniques?|options?|approach|treatments?|risks?)\b",
    re.IGNORECASE,
)


# "who are the other doctors at the same hospital as him": colleagues, not "where is he"
_OTHERS_THERE = re.compile(
    r"\bsame (?:hospital|clinic) as\b|"
    r"\b(?:other|else|more) (?:doctors?|specialists?|surgeons?)?\b[^.?!]{0,25}"
    r"\bsame (?:hospital|clinic)\b",
    re.IGNORECASE,
)


def other_doctor(text: str) -> bool:
    """Whether a short message asks about another listed doctor than the one in view ("and the
    other one?") or about the doctors at the same hospital."""
    return (
        len(text.split()) <= 2 * FOLLOW_UP_MAX_WORDS
        and bool(THE_OTHER.search(text) or _OTHERS_THERE.search(text))
        and not _GUIDE_TOPIC.search(text)
    )


def doctor_question(text: str, names: Sequence[str]) -> str | None:
    """``ask_specialist_detail`` when a listed doctor is named, ``find_specialist`` when doctors
    are asked for by a detail their cards show ("which doctor charges the least", "any doctor
    in kolkata"), else None. ``names``: the words that name the doctors, then their cities,
    each marked by a prefix ("name:", "city:")."""
    lowered = text.lower()
    people = [n[5:] for n in names if n.startswith("name:")]
    if any(re.search(rf"\b{re.escape(name)}\b", lowered) for name in people):
        return "ask_specialist_detail"
    if len(lowered.split()) <= FOLLOW_UP_MAX_WORDS and (
        _BARE_DETAIL.search(lowered) or (_PERSON.search(lowered) and _PERSON_DETAIL.search(lowered))
    ):
        return "ask_specialist_detail"
    if re.search(r"\bbooking (?:fee|charge|amount)", lowered):
        return "ask_specialist_detail"
    # "is he available online, i cant travel that far": the reason comes after the question
    if (
        len(lowered.split()) <= 2 * FOLLOW_UP_MAX_WORDS
        and _PERSON.search(lowered)
        and mode_question(lowered)
    ):
        return "ask_specialist_detail"
    if other_doctor(lowered):
        return "ask_specialist_detail"
    if first_consult_online(lowered):
        return None
    if _DOCTOR_WORD.search(lowered) and (_CARD_DETAIL.search(lowered) or names_a_city(text, names)):
        return "find_specialist"
    if len(lowered.split()) <= FOLLOW_UP_MAX_WORDS and card_query(lowered):
        return "find_specialist"  # "cheapest consultation?"
    if len(lowered.split()) <= 2 * FOLLOW_UP_MAX_WORDS and ranks_doctors(lowered):
        return "find_specialist"
    return None


def doctor_surnames(path: Path) -> List[str]:
    """The words that name each listed doctor (no titles, no short words) and their cities, as
    :func:`doctor_question` reads them."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    words = set()
    for entry in data.get("specialists") or []:
        for word in re.split(r"[\s.]+", str(entry.get("name") or "").lower()):
            if len(word) > 4:
                words.add(f"name:{word}")
        words.add(f"city:{str(entry.get('city') or '').lower()}")
    return sorted(words)


# --- the guide's passages -----------------------------------------------------------------

_HEADING_MAX = 110
# Lines of the page that are navigation, the doctor cards or labels, not guide text.
_SKIP_SECTIONS = ("Consult a Specialist for the best advice", "More articles from")
_BOILERPLATE = re.compile(
    r"^(apollo|online doctor consultation|• login|ic_search_new|reviewerimg|written by|"
    r"reviewed by|last updated|recommendation|no booking fees|frequently asked questions)\b|"
    r"^\(\d+\+ patients\)$|^\d[\d,]*%?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Passage:
    section: str  # the page heading it sits under
    text: str  # the page's own words: a sentence or a list item


def _is_heading(line: str, following: str) -> bool:
    """A title line: no closing full stop, colon or comma (a question mark is fine: the FAQ's
    questions are its headings), followed by text that does end like a sentence. The cards'
    lines (names, cities, figures) are followed by more such lines, so none is a heading."""
    return (
        len(line) <= _HEADING_MAX
        and not line.endswith((".", ":", ","))
        and not line.startswith("•")
        and following.endswith((".", ":", "?"))
        and not following.startswith("•")
        or following.startswith("•")
        and line.endswith("?")
    )


def guide_sections(page: str) -> List[Tuple[str, List[str]]]:
    """The page's headed sections with their paragraphs and list items (a list item carries
    its lead-in: "MISS can effectively treat many conditions, including: Degenerative disc
    disease"), without the doctor cards, navigation and bylines (the cards are answered from
    content/specialists.yml)."""
    lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
    sections: List[Tuple[str, List[str]]] = []
    skipping = False
    lead_in = ""
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith(_SKIP_SECTIONS):
            skipping = True
            continue
        if _is_heading(line, following) and not _BOILERPLATE.match(line):
            skipping = False
            sections.append((line, []))
            lead_in = ""
            continue
        if skipping or not sections or _BOILERPLATE.match(line):
            continue
        if line.startswith("•"):
            item = line.lstrip("• ").strip()
            sections[-1][1].append(f"{lead_in} {item}".strip())
            continue
        lead_in = line if line.endswith(":") else ""
        if not lead_in:
            sections[-1][1].append(line)
    return [(heading, body) for heading, body in sections if body]


def _sentences(paragraph: str) -> List[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", paragraph.strip())
    return [p for p in parts if len(_WORD.findall(p)) >= 3]


def guide_passages(page: str) -> List[Passage]:
    return [
        Passage(heading, sentence)
        for heading, body in guide_sections(page)
        for paragraph in body
        for sentence in _sentences(paragraph)
    ]


# Words of two or more letters (no numbers: "L4", "2-4" carry no topic).
LETTER_WORDS = r"(?u)\b[^\W\d_][^\W\d_]+\b"
_STOP = (
    "a an the and or of to in on for with is are was be it this that i my me you your we our do "
    "does did can could will would should what how which when who why there their they he she "
    "his her am if so as at by from about any some after before pls please sir madam hi hello "
    "dear know want tell also just get got have has had been being very much many more most"
).split()


@dataclass
class PassageIndex:
    """TF-IDF over the passages (each with its heading, which names its topic)."""

    passages: List[Passage]
    vectorizer: TfidfVectorizer
    matrix: object

    @classmethod
    def build(cls, passages: Sequence[Passage]) -> PassageIndex:
        documents = [f"{p.section} {p.text}" for p in passages]
        vectorizer = TfidfVectorizer(
            analyzer="word",
            ngram_range=(1, 2),
            sublinear_tf=True,
            stop_words=_STOP,
            token_pattern=LETTER_WORDS,
        )
        matrix = vectorizer.fit_transform(documents)
        return cls(list(passages), vectorizer, matrix)

    @classmethod
    def from_page(cls, path: Path = SOURCE_PAGE) -> PassageIndex:
        return cls.build(guide_passages(path.read_text(encoding="utf-8")))

    def best(self, question: str) -> Tuple[Passage | None, float]:
        """The passage closest to ``question`` and its cosine similarity (0 when none)."""
        query = self.vectorizer.transform([(question or "")[:MAX_CHARS].lower()])
        if not query.nnz:
            return None, 0.0
        scores = np.asarray((self.matrix @ query.T).todense()).ravel()
        index = int(scores.argmax())
        return self.passages[index], float(scores[index])
