"""Prompt-injection and jailbreak detection for user inputs, system-prompt leaks for outputs.

Each rule is a pattern with a weight in (0, 1): the weight is how sure a hit alone makes us.
Hits are combined with a noisy-OR (``1 - prod(1 - w)``) so several weak hints (a role-play
opener, "no restrictions", a base64 blob) add up to a flag while one weak hint does not. Weights
were tuned on the starter red-team set (``evaluations/data/starter``), keeping benign look-alikes
such as "ignore my previous message" or "act as a translator" below the threshold.

Patterns are written in lowercase and matched against the lowercased text; each carries the
words any match must contain, so on ordinary messages almost no regex runs (see ``_text``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ._text import Rule, rule, score_rules, vocabulary, word_set

INJECTION_THRESHOLD = 0.5

# Shared fragments so the English variants read as sentences rather than regex soup.
_OVERRIDE_VERB = r"(?:ignore|disregard|forget|override|skip|drop|bypass|abandon|discard)"
_EARLIER = r"(?:previous|prior|above|earlier|preceding|initial|original|old|existing|all|any)"
_RULES_NOUN = (
    r"(?:instructions?|rules|prompts?|directions|directives|guidelines|guardrails|"
    r"programming|constraints|restrictions|policies|context|system\s+message)"
)
_REVEAL_VERB = (
    r"(?:reveal|print|show|repeat|output|display|leak|dump|expose|recite|spell\s+out|"
    r"tell\s+me|give\s+me|share|paste|list|write\s+out|what\s+(?:is|are|were))"
)
_HIDDEN_ADJ = r"(?:exact|full|original|hidden|secret|initial|internal|verbatim|complete|first)"
_PROMPT_NOUN = r"(?:prompt|instructions|pre-?prompt|rules|guidelines|directives|configuration)"

# Gate vocabularies: every word form the matching regexes can start from or must contain.
_G_OVERRIDE = "ignore disregard forget override skip drop bypass abandon discard"
_G_RULES = (
    "instruction instructions rule rules prompt prompts directions directives guidelines "
    "guardrails programming constraints restrictions policies policy context message training "
    "safety"
)
_G_PROMPT = "prompt prompts instructions rules guidelines directives configuration preprompt"

# Any base64 payload of 40+ characters contains a run of 12+ word characters (a "+" or "/"
# every 12 characters is vanishingly unlikely), so the blob regex only runs behind that gate.
_BLOB_GATE_LEN = 12


_RULES: tuple[Rule, ...] = (
    # Direct instruction override, the classic injection.
    rule(
        "ignore_instructions",
        0.9,
        rf"\b{_OVERRIDE_VERB}\s+(?:(?:all|any|every|of|the|your|my|these|those|its)\s+)*"
        rf"(?:{_EARLIER}\s+)+(?:\w+\s+)?{_RULES_NOUN}\b",
        all_of=(_G_OVERRIDE, _G_RULES),
    ),
    rule(
        "ignore_your_rules",
        0.8,
        rf"\b{_OVERRIDE_VERB}\s+(?:all\s+)?(?:your|the|its)\s+(?:\w+\s+)?"
        r"(?:rules|instructions|guidelines|programming|guardrails|safety\s+\w+|restrictions|"
        r"training|system\s+prompt|content\s+polic(?:y|ies))\b",
        all_of=(_G_OVERRIDE, _G_RULES),
    ),
    rule(
        "do_not_follow_rules",
        0.8,
        r"\b(?:do\s+not|don't|stop|no\s+longer)\s+(?:follow|obey|adhere\s+to|comply\s+with)"
        r"(?:ing)?\s+(?:your|the|any|those|these|openai'?s?)\s+(?:\w+\s+)?"
        r"(?:rules|instructions|guidelines|policies|polic(?:y)|restrictions)\b",
        all_of=("follow following obey obeying adhere comply", _G_RULES),
    ),
    rule(
        "new_instructions",
        0.6,
        r"\b(?:new|updated|real|actual|revised|additional)\s+(?:system\s+)?"
        r"(?:instructions?|directives?|rules?)\s*[:\-]",
        all_of=("new updated real actual revised additional", _G_RULES),
    ),
    rule(
        "instructions_are_now",
        0.6,
        r"\byour\s+(?:new\s+)?(?:instructions|rules|task|objective|goal|purpose)\s+"
        r"(?:is|are)\s+now\b",
        all_of=("now",),
    ),
    # Persona swaps and named jailbreaks.
    # Case-sensitive: "Dan" the courier is fine, "DAN" is the jailbreak persona.
    rule("dan", 0.7, r"\bDAN\b", all_of=("dan",), case_sensitive=True),
    rule("do_anything_now", 0.9, r"\bdo\s+anything\s+now\b", all_of=("anything",)),
    rule(
        "you_are_now",
        0.45,
        r"\byou\s+are\s+(?:now|no\s+longer)\b|\bfrom\s+now\s+on,?\s+you\b|"
        r"\byou\s+will\s+now\s+(?:act|respond|answer|behave|be)\b",
        all_of=("now longer",),
    ),
    rule(
        "developer_mode",
        0.8,
        r"\b(?:developer|dev|god|debug|admin|sudo|maintenance|jailbr[eo]ak(?:en)?|unrestricted|"
        r"evil|chaos)\s+mode\b",
        all_of=("mode",),
    ),
    rule(
        "jailbreak_word",
        0.7,
        r"\bjail\s?break(?:s|ing)?\b|\bjailbroken\b",
        all_of=("jail jailbreak jailbreaks jailbreaking jailbroken",),
    ),
    rule(
        "no_restrictions",
        0.4,
        r"\b(?:no|without|free\s+(?:of|from)|zero)\s+(?:\w+\s+)?"
        r"(?:restrictions|limits|limitations|filters?|censorship|guidelines|guardrails|"
        r"morals|ethics|rules|boundaries|content\s+polic(?:y|ies)|"
        r"safety\s+(?:rules|filters|guidelines))\b",
        all_of=(
            "no without free zero",
            "restrictions limits limitations filter filters censorship guidelines guardrails "
            "morals ethics rules boundaries policy policies",
        ),
    ),
    rule(
        "unfiltered_persona",
        0.5,
        r"\b(?:unfiltered|uncensored|unrestricted|amoral|unaligned|unethical\s+ai|"
        r"machiavellian)\b",
        all_of=("unfiltered uncensored unrestricted amoral unaligned unethical machiavellian",),
    ),
    # Well-known jailbreak persona names; alone they are weak (DUDE may just be shouting).
    rule(
        "persona_name",
        0.4,
        r"\b(?:STAN|DUDE|AIM|Mongo\s+Tom|(?:Anti|Based|Free|Evil|Dev|Unfiltered|Dark)GPT)\b",
        all_of=(
            "stan dude aim mongo antigpt basedgpt freegpt evilgpt devgpt unfilteredgpt darkgpt",
        ),
        case_sensitive=True,
    ),
    rule(
        "roleplay",
        0.35,
        r"\b(?:pretend\s+(?:to\s+be|you(?:'re|\s+are))|act\s+as\s+(?:if|though|an?|my)\b|"
        r"role-?\s?play(?:ing)?\s+as|let'?s\s+play\s+a\s+game|imagine\s+you\s+are|"
        r"you\s+are\s+playing\s+(?:the\s+)?(?:role|character)|stay\s+in\s+character|"
        r"hypothetical(?:ly)?\s+(?:scenario|story|world)|in\s+a\s+fictional\s+(?:world|story))",
        all_of=(
            "pretend act role roleplay roleplaying play playing imagine character "
            "hypothetical hypothetically fictional",
        ),
    ),
    rule(
        "grandma_exploit",
        0.6,
        r"\b(?:dead|deceased|late)\s+(?:grandma|grandmother|grandpa|grandfather)\b|"
        r"\b(?:grandma|grandmother)\s+(?:used\s+to|would)\s+(?:tell|read|recite)",
        all_of=("grandma grandmother grandpa grandfather",),
    ),
    rule(
        "bypass_safety",
        0.8,
        r"\b(?:bypass|disable|turn\s+off|deactivate|circumvent|get\s+around|switch\s+off|"
        r"remove|evade)\s+(?:all\s+)?(?:of\s+)?(?:your|the|any|its)\s+(?:\w+\s+)?"
        r"(?:safety|filters?|guardrails|content\s+polic(?:y|ies)|moderation|safeguards|"
        r"alignment)\b|"
        # "the restrictions" is often the user's own account; "your restrictions" is the model's.
        r"\b(?:bypass|disable|turn\s+off|circumvent|remove|lift|drop)\s+(?:all\s+)?(?:of\s+)?"
        r"your\s+(?:restrictions|limitations|limits|rules)\b",
        all_of=(
            "bypass disable turn deactivate circumvent get switch remove evade lift drop",
            "safety filter filters guardrails policy policies moderation safeguards alignment "
            "restrictions limitations limits rules",
        ),
    ),
    rule(
        "bypass_policy",
        0.4,
        r"\b(?:bypass|override|circumvent|ignore|break)\s+(?:the|your|any)\s+(?:\w+\s+)?"
        r"polic(?:y|ies)\b|\b(?:let'?s|we\s+will|you\s+(?:can|will|must))\s+break\s+"
        r"(?:the|all|your|some)\s+rules\b",
        all_of=("bypass override circumvent ignore break", "policy policies rules"),
    ),
    # Attempts to read the hidden prompt.
    rule(
        "system_prompt_mention",
        0.5,
        r"\bsystem\s*[-_]?\s*prompts?\b|\bsystem\s+message\b",
        all_of=("system system_prompt system_prompts systemprompt systemprompts",),
    ),
    rule(
        "reveal_prompt",
        0.85,
        rf"\b{_REVEAL_VERB}\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?"
        rf"(?:your\s+(?:{_HIDDEN_ADJ}\s+)*(?:system\s+)?{_PROMPT_NOUN}|"
        rf"the\s+(?:{_HIDDEN_ADJ}\s+)+(?:system\s+)?{_PROMPT_NOUN}|"
        rf"the\s+system\s+{_PROMPT_NOUN})\b"
        # "show me the instructions for setting up 2FA" is a help request, not an extraction.
        r"(?!\s+(?:for|on|to|about|how)\b)",
        all_of=(_G_PROMPT,),
    ),
    rule(
        "repeat_above",
        0.8,
        r"\b(?:repeat|print|output|copy|echo)\s+(?:everything|all|the\s+(?:text|words|"
        r"content|message)s?)\s+(?:above|before\s+this|so\s+far|verbatim)|"
        r"\bwhat\s+was\s+written\s+(?:above|before)\b|\bstarting\s+with\s+[\"']you\s+are\b",
        all_of=("repeat print output copy echo written starting",),
    ),
    # Fake chat-template or role delimiters embedded in the input.
    rule(
        "delimiter_injection",
        0.8,
        r"(?:^|\n)\s*(?:#{2,}|\*{2,}|-{3,}|={3,}|\[|<)\s*/?\s*(?:system|assistant|"
        r"instructions?|admin|developer|root)\s*(?:\]|>|:|#{2,})|"
        r"<\|(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\|>|\[/?inst\]|"
        r"<</?sys>>|</?s>\s*\[inst",
        all_of=(
            "system assistant instruction instructions admin developer root inst sys "
            "im_start im_end endoftext eot_id start_header_id",
        ),
    ),
    rule(
        "end_of_context",
        0.6,
        r"\b(?:end\s+of\s+(?:system\s+)?(?:prompt|instructions|context|conversation)|"
        r"begin\s+(?:new\s+)?(?:system\s+)?(?:prompt|instructions|session))\b",
        all_of=("end begin",),
    ),
    # Obfuscation: encoded payloads and the requests to decode them.
    rule(
        "encoding_hint",
        0.4,
        r"\b(?:base64|base-64|rot-?13|hex[-\s]?encoded|leetspeak|l33t|morse\s+code|"
        r"caesar\s+cipher|reversed?\s+text|decode\s+(?:this|the\s+following)|"
        r"(?:write|spell|read)\s+(?:it|this|each\s+word)\s+backwards?)\b",
        all_of=(
            "base64 base rot rot13 hex hexencoded leetspeak l33t morse caesar reverse reversed "
            "decode backward backwards",
        ),
    ),
    rule(
        "invisible_chars",
        0.4,
        "[\u200b\u200c\u200d\u2060\ufeff\u202e\u202d]",
        non_ascii=("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202d"),
        case_sensitive=True,
    ),
    # Other languages: "ignore/forget (all) (the/your) previous instructions" and friends.
    rule(
        "ignore_instructions_es",
        0.9,
        r"\b(?:ignora|ignore|ignorar|olvida|olvide|olvidar|omite|descarta)\s+"
        r"(?:(?:todas|todos|las|los|tus|sus)\s+)*(?:\w+\s+)?"
        r"(?:instrucciones|reglas|indicaciones|normas)\b",
        all_of=("instrucciones reglas indicaciones normas",),
    ),
    rule(
        "ignore_instructions_fr",
        0.9,
        r"\b(?:ignore[sz]?|oublie[sz]?|ignorer|oublier|ne\s+tiens\s+pas\s+compte\s+d)\s*"
        r"(?:(?:toutes|tous|les|tes|vos|des|de|d')\s*)*(?:\w+\s+)?"
        r"(?:instructions|consignes|règles|directives)\b",
        all_of=("instructions consignes règles directives",),
    ),
    rule(
        "ignore_instructions_de",
        0.9,
        r"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte)\s+(?:sie\s+)?"
        r"(?:(?:alle|die|deine|ihre|bisherigen|vorherigen|obigen|vorigen)\s+)*"
        r"(?:\w+\s+)?(?:anweisungen|instruktionen|regeln|vorgaben|richtlinien)\b|"
        r"\b(?:anweisungen|regeln)\s+(?:ignorieren|vergessen)\b",
        all_of=("anweisungen instruktionen regeln vorgaben richtlinien",),
    ),
    rule(
        "ignore_instructions_pt",
        0.9,
        r"\b(?:ignore|ignora|ignorar|esqueça|esqueca|esquece|desconsidere)\s+"
        r"(?:(?:todas|todos|as|os|suas|tuas|seus)\s+)*(?:\w+\s+)?"
        r"(?:instruções|instrucoes|regras|orientações|diretrizes)\b",
        all_of=("instruções instrucoes regras orientações diretrizes",),
    ),
    rule(
        "ignore_instructions_it",
        0.9,
        r"\b(?:ignora|dimentica|ignorare)\s+(?:(?:tutte|tutti|le|i|tue)\s+)*(?:\w+\s+)?"
        r"(?:istruzioni|regole|indicazioni)\b",
        all_of=("istruzioni regole indicazioni",),
    ),
    rule(
        "ignore_instructions_ja",
        0.9,
        r"(?:以前|前|上記|これまで)の(?:指示|命令|ルール)を(?:無視|忘れ)",
        non_ascii=("指示", "命令", "ルール"),
    ),
    rule(
        "system_prompt_other_languages",
        0.5,
        r"\bprompt\s+(?:del|de|do|du)\s+(?:sistema|système|systeme)\b|"
        r"\bsystemprompt\b|\bsystem-prompt\b|\bprompt\s+système\b|システムプロンプト",
        all_of=("prompt systemprompt",),
        non_ascii=("システムプロンプト",),
    ),
    rule(
        "developer_mode_other_languages",
        0.8,
        r"\b(?:modo|mode)\s+(?:desarrollador|développeur|developpeur|desenvolvedor|sin\s+"
        r"restricciones|sem\s+restrições)\b|\bentwicklermodus\b",
        all_of=("modo mode entwicklermodus",),
    ),
)
_VOCABULARY = vocabulary(_RULES)
_BLOB: tuple[Rule, ...] = (
    rule(
        "base64_blob",
        0.4,
        r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/])",
        case_sensitive=True,
    ),
)

# Shorter inputs cannot spell out any rule and are common ("hi", "?"), so skip the scan.
_MIN_TEXT = 6


@dataclass(frozen=True, slots=True)
class InjectionResult:
    score: float
    is_injection: bool
    matches: list[str] = field(default_factory=list)


def detect_injection(text: str, *, threshold: float = INJECTION_THRESHOLD) -> InjectionResult:
    """Score how strongly ``text`` tries to override the agent's instructions.

    ``matches`` lists the names of the rules that fired (stable strings for rationales).
    """
    if len(text) < _MIN_TEXT:
        return InjectionResult(score=0.0, is_injection=False, matches=[])
    lowered = text.lower()
    words = word_set(lowered)
    score, matches = score_rules(_RULES, text=text, lowered=lowered, words=words & _VOCABULARY)
    if any(len(word) >= _BLOB_GATE_LEN for word in words):
        blob_score, blob_matches = score_rules(_BLOB, text=text, lowered=lowered, words=words)
        if blob_matches:
            score = round(1.0 - (1.0 - score) * (1.0 - blob_score), 4)
            matches.extend(blob_matches)
    return InjectionResult(score=score, is_injection=score >= threshold, matches=matches)


DEFAULT_LEAK_MARKERS: tuple[str, ...] = (
    "You are a helpful",
    "SYSTEM PROMPT:",
    "System instructions:",
    "<|im_start|>system",
    "[SYSTEM]",
    "### System",
    "My instructions are",
    "I was instructed to",
    "my system prompt",
)


def detect_system_prompt_leak(
    output: str, *, markers: Iterable[str] = DEFAULT_LEAK_MARKERS
) -> list[str]:
    """Return the markers (case-insensitive) that occur in ``output``.

    Configure ``markers`` with distinctive phrases from the agent's real system prompt: any of
    them showing up in an answer means the prompt leaked.
    """
    lowered = output.casefold()
    return [marker for marker in markers if marker and marker.casefold() in lowered]
