"""Follow-ups that only make sense after the previous answer: "and for a fusion?", "what about
after a discectomy?", "how common is that?" (pure helpers).

Read alone, "what about after a discectomy?" looks like a question about the discectomy article,
and "how common is that?" like nothing at all. Only the shape is recognised here: a short
message that is a follow-up cue plus the name of a procedure or condition, or a question about
how often "that" happens. What it means is decided by the action server from the previous
answer (actions/follow_ups.py and the `follow_ups` table of content/topics.yml).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict

# The things a follow-up can switch to, as patients name them.
TERMS: Dict[str, str] = {
    "discectomy": r"(?:micro\s?)?dis[ck]ectomy|disc removal|disc surgery|disc operation",
    "fusion": r"(?:spinal\s)?fusion|screws? and rods?|rods? and screws?",
    "laminectomy": r"laminectomy|foraminotomy|decompression",
    "open_surgery": r"open (?:surgery|operation|method|spine surgery)|traditional surgery",
    "herniated_disc": r"(?:herniated|bulging|slipped|prolapsed?) discs?|disc (?:bulge|prolapse)",
    "stenosis": r"(?:spinal\s)?stenosis|narrow(?:ing)? (?:of the )?(?:spinal )?canal",
    "spondylolisthesis": r"spondylolisthesis|slipped vertebra|vertebra slip\w*",
    "degenerative_disc": r"degenerative dis[ck]\w*(?: disease)?|disc degeneration",
    "fracture": r"(?:spinal\s)?fractures?",
    "infection_tumor": r"(?:spinal\s)?(?:infections?|tumou?rs?)",
}
# "ok and for a fusion?", "hmm what if it is a fusion": an acknowledgement may come first
_LEAD = r"^\s*(?:(?:ok|okay|hmm+|acha|achha|accha|right|so|but|yes|haan)[,.!]?\s+)?"
_CUE = re.compile(
    _LEAD + r"(?:and|&|what about|how about|wat about|same for|same with|also for|and also|"
    r"what if|and if|is it the same for|for)\b",
    re.IGNORECASE,
)
# Words that may stand around the term without asking anything else.
_FILLER = {
    "and",
    "what",
    "about",
    "how",
    "wat",
    "same",
    "also",
    "for",
    "if",
    "it",
    "its",
    "it's",
    "is",
    "a",
    "an",
    "the",
    "after",
    "with",
    "in",
    "case",
    "of",
    "my",
    "me",
    "then",
    "one",
    "there",
    "sir",
    "madam",
    "pls",
    "please",
    "ok",
    "okay",
    "in case",
    "surgery",
    "operation",
    "mis",
    "miss",
    "minimally",
    "invasive",
    "keyhole",
    "that",
    "this",
    "procedure",
    "s",
    "ki",
    "ka",
    "ke",
    "liye",
    "mein",
    "wala",
    "wali",
    "having",
    "had",
    "get",
    "getting",
    "do",
    "they",
    "he",
    "she",
    "him",
    "his",
    "her",
    "up",
    "instead",
    "will",
    "would",
    "be",
    "are",
    "was",
    "going",
    "done",
    "doing",
    "does",
    "doctor",
    "surgeon",
    "may",
    "need",
    "needs",
    # "what if it turns out to be a fusion", "what if they end up doing a fusion"
    "turns",
    "turn",
    "out",
    "end",
    "ends",
    "to",
}
_HOW_COMMON = re.compile(
    _LEAD + r"(?:and\s+|but\s+|so\s+)?(?:how (?:common|often|frequent|likely|rare)|"
    r"what are the chances|what is the chance|"
    r"(?:is|are) (?:that|it|this|they) (?:common|rare|frequent|likely)|"
    r"what(?:'s| is) the (?:risk|chance|percentage|rate) of (?:that|it|this))\b",
    re.IGNORECASE,
)
# "and how often does it succeed?": the success rate of what was just explained.
# A bare "what is the success rate" names nothing either: it asks about the answer before.
_SUCCESS = re.compile(
    _LEAD + r"(?:and\s+)?(?:how (?:often|likely) (?:does|will|is) (?:it|that|this) "
    r"(?:succeed|work)|how successful (?:is|was|will be) (?:it|that|this)\b|"
    r"(?:what(?:'s|s| is) )?(?:the |its )?success (?:rate|percentage|percent|%)"
    r"(?: (?:of|for) (?:that|it|this|them))?\s*[?.!]*$|"
    r"what (?:percent|percentage|%) of (?:them|those|these|people|patients)\b"
    r".{0,20}\b(?:succeed|successful|work))",
    re.IGNORECASE,
)
# "my dad smokes, does that change anything?", "anything i can do to improve my chances": what
# the success just given depends on (the fusion FAQ names smoking and overall health)
_SUCCESS_FACTOR = re.compile(
    r"\b(?:smok\w*|cigarettes?|beedi|bidi)\b.{0,40}\b(?:affect|change|matter|difference|"
    r"effect|reduce|spoil)\w*|\b(?:improve|increase|better) (?:my|his|her|the|our) chances\b",
    re.IGNORECASE,
)
# "it", "that", "this": what was just explained
_THAT = re.compile(r"\b(?:it|that|this)\b", re.IGNORECASE)
# ... and "these", "they", "the nerve damage one": words that point back to the previous answer.
# "that" before a subject is a conjunction ("the chances that i can go back to work"), and "it"
# before it is empty ("how likely is it that the pain comes back"): neither points anywhere.
_BACK = re.compile(
    r"\b(?:it(?!\s+that\s)|this|these|those|they|them|one|"
    r"that(?!\s+(?:i|i'll|he|she|we|you|my|his|her|our|your|their|the|a|an)\b))\b",
    re.IGNORECASE,
)
# What a frequency question may be about (a risk the guide lists, what the patient wants to do
# again, or a procedure or condition): named, the question stands on its own
_SUBJECT = re.compile(
    r"\b(?:infect\w*|clots?|clotting|bleed\w*|blood|nerves?|leak\w*|csf|fluid|dural|paraly\w*|"
    r"herniat\w*|recur\w*|wound|complications?|pain|symptoms?|"
    r"work|job|office|walk\w*|driv\w*|sports?|gym|run|running|travel\w*|lift\w*|"
    + "|".join(f"(?:{pattern})" for pattern in TERMS.values())
    + r")\b",
    re.IGNORECASE,
)
# How often it works, not how often a risk happens; "the fusion will work", "is it to work", but
# not "back to work", which is the patient's job
_OUTCOME = re.compile(
    r"\b(?:succeed\w*|success\w*|heal|heals|(?:will|would|does|did|it|that|this|fusion|surgery|"
    r"operation|op|procedure|it to) (?:work|works|working))\b",
    re.IGNORECASE,
)
_ABOUT_SUCCESS = re.compile(r"\b(?:chances|success)\b", re.IGNORECASE)
# "how soon after the op does it start?" after the physiotherapy answer: when that begins
_WHEN_STARTS = re.compile(
    _LEAD + r"(?:and\s+)?(?:how soon|how many days|when|from when|by when)\b.{0,40}"
    r"\b(?:start|starts|started|begin|begins|starting)\b",
    re.IGNORECASE,
)
# "which operation is done for that?", "which keyhole operation is done for it", "which of the
# procedures would that be": the procedure for the condition just explained.
_PROCEDURE_FOR = re.compile(
    r"^\s*(?:and\s+|so\s+|ok\s+)?(?:(?:which|what) (?:\w+ )?"
    r"(?:procedure|operation|surgery|opration)\b.{0,30}\b(?:for|in) (?:that|it|this|such a case)|"
    r"which of (?:the|these|those) (?:procedures|operations|surgeries)\b.{0,20}"
    r"\b(?:that|it|this|for (?:him|her|me|us)))\b",
    re.IGNORECASE,
)
# "for which condition is it usually performed?", "for which problem do they do it": the
# condition the procedure just explained treats.
_CONDITION_FOR = re.compile(
    r"^\s*(?:and\s+|so\s+|ok\s+)?(?:for\s+)?(?:which|what) (?:kind of |type of )?"
    r"(?:conditions?|problems?|diseases?|issues?|cases?)\b.{0,30}\b(?:it|this|that|they)\b",
    re.IGNORECASE,
)
MAX_WORDS = 12
# "how common is the nerve damage one, like how many out of 100": a frequency question may say
# what it is about and how the answer should look
MAX_WORDS_HOW_COMMON = 16
# Words beside the term that ask nothing new ("his uncle is having that", "they end up doing");
# two more ("what is the recovery time after a fusion") make it a question of its own.
MAX_OTHER_WORDS = 1


@dataclass(frozen=True)
class FollowUp:
    kind: str  # "term": the same question about another thing; "how_common": its frequency;
    # "success": its success rate (or what it depends on); "when_starts": when what was just
    # explained begins; "procedure_for": the operation for the condition just explained;
    # "condition_for": the condition the operation just explained treats
    # a key of TERMS: what a "term" follow-up switches to, or the procedure a "success"
    # question names
    term: str = ""


def follow_up(text: str) -> FollowUp | None:
    """The follow-up a short message is, if it is one: the whole message, or its first sentence
    when what follows asks nothing ("and for a fusion? my father may need that one")."""
    text = (text or "").strip()
    found = _follow_up(text)
    first, _, rest = text.partition("?")
    if found is None and rest.strip() and "?" not in rest:
        found = _follow_up(first + "?")
    return found


def named_term(text: str) -> str:
    """The first thing of TERMS the message names ("" when it names none)."""
    lowered = text.lower()
    return next(
        (term for term, pattern in TERMS.items() if re.search(rf"\b(?:{pattern})\b", lowered)),
        "",
    )


def _follow_up(text: str) -> FollowUp | None:
    if not text or len(text.split()) > MAX_WORDS_HOW_COMMON:
        return None
    # "that spinal fluid leak one, how common is it?": what "that" is, then the question
    lead, comma, tail = text.partition(",")
    about_that = _THAT.search(tail)
    if _SUCCESS.match(text) or (
        _SUCCESS_FACTOR.search(text) and (_THAT.search(text) or _ABOUT_SUCCESS.search(text))
    ):
        # "will smoking affect the success of my fusion" names what it asks about, whatever
        # was answered before
        return FollowUp("success", named_term(text))
    if _HOW_COMMON.match(text) or (
        comma and len(lead.split()) <= 8 and about_that and _HOW_COMMON.match(tail)
    ):
        if _OUTCOME.search(text):
            # "what are the chances my fusion will work": how often it succeeds, which the
            # guide gives for fusion, not how often a risk happens, which it never gives
            return FollowUp("success", named_term(text))
        if _SUBJECT.search(text) and not _BACK.search(text):
            # "how likely is a wound infection after MISS" names what it asks about and can be
            # answered alone; "how common is that csf leak one" points back
            return None
        return FollowUp("how_common")
    if len(text.split()) > MAX_WORDS:
        return None
    if _PROCEDURE_FOR.match(text):
        return FollowUp("procedure_for")
    if _CONDITION_FOR.match(text):
        return FollowUp("condition_for")
    if _WHEN_STARTS.match(text) and _THAT.search(text):
        return FollowUp("when_starts")
    if not _CUE.match(text):
        return None
    lowered = text.lower()
    for term, pattern in TERMS.items():
        match = re.search(rf"\b(?:{pattern})\b", lowered)
        if not match:
            continue
        rest = (lowered[: match.start()] + " " + lowered[match.end() :]).replace("?", " ")
        words = re.findall(r"[a-z']+", rest)
        if sum(w not in _FILLER for w in words) <= MAX_OTHER_WORDS:
            return FollowUp("term", term)
    return None
