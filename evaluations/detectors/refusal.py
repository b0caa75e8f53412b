"""Refusals and deflections in an agent's answer.

Strong phrases ("I can't help with that", "As an AI") mark a refusal on their own. Deflections
("please contact support") are a weaker signal: a support agent legitimately hands some cases to
humans, so one deflection alone stays below the threshold and only adds up with other hints.
Scores combine like the injection detector: ``1 - prod(1 - weight)`` over the phrases found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._text import Rule, rule, score_rules, vocabulary, word_set

REFUSAL_THRESHOLD = 0.5

# The word "i": the lookbehind sits after the literal so ``re`` can jump between "i"s with its
# literal scan instead of testing ``\b`` at every position.
_I = r"i(?<!\wi)"
_CANNOT = (
    r"(?:can(?:no|')t|can\s+not|won't|will\s+not|am\s+not\s+able\s+to|'m\s+not\s+able\s+to|"
    r"am\s+unable\s+to|'m\s+unable\s+to)"
)
_HELP_VERB = (
    r"(?:help|assist|provide|share|give|disclose|reveal|do|answer|comply|fulfil+|process|"
    r"support|discuss|access|look\s+up|complete|offer|grant|approve|tell|write|create|generate)"
)
# "can't" and "won't" split into "can"/"won" and "t"; "t" is far rarer than "can".
_G_NEGATION = "t cannot not unable"
_G_HELP_VERB = (
    "help assist provide share give disclose reveal do answer comply fulfil fulfill process "
    "support discuss access look complete offer grant approve tell write create generate"
)

_PHRASES: tuple[Rule, ...] = (
    rule(
        "cannot_help",
        0.85,
        rf"{_I}\s*(?:really\s+|simply\s+|just\s+)?{_CANNOT}\s+(?:\w+\s+)?{_HELP_VERB}\b",
        all_of=("i", _G_NEGATION, _G_HELP_VERB),
    ),
    rule(
        "unable_to",
        0.7,
        rf"{_I}(?:'m|\s+am)\s+(?:sorry,?\s+(?:but\s+)?i(?:'m|\s+am)\s+)?(?:unable|not\s+able)\s+"
        rf"to\b|{_I}\s+(?:won't|will\s+not)\s+be\s+able\s+to\b",
        all_of=("i", "unable able"),
    ),
    rule(
        "sorry_but_cannot",
        0.85,
        r"(?:sorry|apologi[sz]e),?\s+(?:but\s+)?i\s+(?:can(?:no|')t|can\s+not|won't|will\s+not|"
        r"am\s+unable|'m\s+unable|am\s+not\s+able|'m\s+not\s+able)\b",
        all_of=("sorry apologise apologize", _G_NEGATION),
    ),
    rule(
        "as_an_ai",
        0.7,
        r"as(?<!\was)\s+an?\s+(?:ai|artificial\s+intelligence|language\s+model|large\s+language\s+"
        r"model|llm|ai\s+(?:language\s+)?(?:model|assistant))\b",
        all_of=("as", "ai artificial language llm"),
    ),
    rule(
        "not_allowed",
        0.8,
        rf"{_I}(?:'m|\s+am)\s+not\s+(?:allowed|permitted|authori[sz]ed|able|in\s+a\s+position)\s+"
        r"to\b",
        all_of=("not", "allowed permitted authorised authorized able position"),
    ),
    rule(
        "must_decline",
        0.9,
        rf"{_I}\s+(?:must|have\s+to|need\s+to|will\s+have\s+to|'ll\s+have\s+to)\s+"
        rf"(?:respectfully\s+)?(?:decline|refuse)\b|{_I}\s+(?:respectfully\s+)?(?:decline|refuse)\s+"
        r"to\b",
        all_of=("decline refuse",),
    ),
    rule(
        "not_something_i_can",
        0.8,
        r"(?:that|this)(?:'s|\s+is)\s+(?:not\s+something|something)\s+i\s+"
        r"(?:can(?:no|')t\s+|can\s+|am\s+(?:not\s+)?able\s+to\s+)?(?:help|assist|do|share|provide)",
        all_of=("something",),
    ),
    rule(
        "against_policy",
        0.7,
        r"(?:against|violates?|violation\s+of)\s+(?:my|our|the)\s+(?:\w+\s+)?"
        r"(?:guidelines|polic(?:y|ies)|rules|terms|principles|programming)\b",
        all_of=(
            "against violate violates violation",
            "guidelines policy policies rules terms principles programming",
        ),
    ),
    rule(
        "not_comfortable",
        0.6,
        rf"{_I}(?:'m|\s+am)\s+not\s+comfortable\b|{_I}\s+(?:don't|do\s+not)\s+feel\s+"
        r"comfortable\b",
        all_of=("comfortable",),
    ),
    rule(
        "cannot_share_data",
        0.6,
        r"(?:can(?:no|')t|can\s+not|unable\s+to|not\s+able\s+to)\s+(?:share|disclose|reveal|"
        r"give\s+out|provide)\s+(?:\w+\s+){0,2}(?:personal|private|customer|account|other\s+"
        r"(?:users|customers|people)'?s?|someone\s+else's|third[-\s]party)\b",
        all_of=(
            "share disclose reveal give provide",
            "personal private customer account other someone third",
        ),
    ),
    rule(
        "cannot_help_other_languages",
        0.8,
        r"no\s+puedo\s+(?:\w+\s+)?(?:ayudar\w*|proporcionar|compartir|hacer|dar\w*|facilitar)|"
        r"je\s+ne\s+(?:peux|suis)\s+pas\s+(?:\w+\s+)?(?:aider|fournir|partager|faire|"
        r"communiquer|en\s+mesure)|ich\s+kann\s+(?:\w+\s+){0,2}nicht\s+(?:helfen|geben|teilen|"
        r"weitergeben|machen)|kann\s+ich\s+(?:leider\s+)?nicht|"
        r"n[ãa]o\s+posso\s+(?:\w+\s+)?(?:ajudar|fornecer|compartilhar|fazer|dar)|"
        r"non\s+posso\s+(?:\w+\s+)?(?:aiut\w*|fornire|condividere|fare|dare)",
        all_of=("puedo peux suis kann posso",),
    ),
    # Weaker: deflection and hedging that often accompany a refusal but also a real handover.
    rule(
        "contact_support",
        0.3,
        r"(?:contact|reach\s+out\s+to|get\s+in\s+touch\s+with|call|email|write\s+to)\s+"
        r"(?:our\s+|the\s+)?(?:customer\s+)?(?:support|service|help\s*desk|care|team)\b",
        all_of=(
            "contact reach get call email write",
            "support service help helpdesk desk care team",
        ),
    ),
    rule(
        "no_access",
        0.35,
        rf"{_I}\s+(?:don't|do\s+not)\s+have\s+(?:access|the\s+ability|permission)\b|"
        rf"{_I}\s+(?:can(?:no|')t|can\s+not)\s+(?:see|view|check|access)\s+(?:your|any|other)\b",
        all_of=("access ability permission see view check", _G_NEGATION),
    ),
    rule(
        "consult_professional",
        0.3,
        r"(?:consult|speak\s+(?:to|with)|seek\s+help\s+from)\s+(?:a|an|your)\s+(?:qualified\s+)?"
        r"(?:professional|lawyer|attorney|doctor|therapist|expert)\b",
        all_of=("consult speak seek", "professional lawyer attorney doctor therapist expert"),
    ),
)
_VOCABULARY = vocabulary(_PHRASES)

# Curly apostrophes are what most models and keyboards emit; the patterns use straight ones.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


@dataclass(frozen=True, slots=True)
class RefusalResult:
    is_refusal: bool
    score: float
    matches: list[str] = field(default_factory=list)


def detect_refusal(text: str, *, threshold: float = REFUSAL_THRESHOLD) -> RefusalResult:
    """Whether ``text`` refuses or deflects; ``matches`` names the phrases found."""
    lowered = text.lower()
    if not lowered.isascii():
        lowered = lowered.translate(_APOSTROPHES)
    words = word_set(lowered) & _VOCABULARY
    score, matches = score_rules(_PHRASES, text=text, lowered=lowered, words=words)
    return RefusalResult(is_refusal=score >= threshold, score=score, matches=matches)
