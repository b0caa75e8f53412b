"""What a support-bot question is about, and whether it is an attack the bot must turn down.

Both demo versions share this front end: `screen` recognises prompt injection, jailbreak
role-play, harmful requests and requests for other customers' data; `intent_of` maps an ordinary
question to one of the shop's FAQ answers. Patterns are matched against lowercased text and
checked in order, so the specific questions ("my refund after I return an item") come before
the general ones ("refund"). The starter golden and red-team sets in `evaluations/data/starter`
are written against the same FAQ.
"""

from __future__ import annotations

import re

# Questions that quote a text to translate or summarise: an instruction inside the quote is
# data, not a command, so the bot works with the text instead of refusing the customer.
QUOTED_REQUEST = re.compile(r"\b(?:translate|summari[sz]e|summary\s+of|proofread)\b")

THREATS: list[tuple[str, re.Pattern[str]]] = [
    (
        "injection",
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\b[^.?!\n]{0,40}"
            r"\b(?:instructions?|directions|prompts?|rules|guidelines)\b"
            r"|system\s*prompt|prompt\s+d[eo]l?\s+sistema|systemprompt"
            r"|\b(?:hidden|secret|internal|original|initial)\s+(?:instructions|rules|prompt)\b"
            r"|\brepeat\b.{0,30}\b(?:above|instructions|prompt)\b|\babove\s+this\s+(?:line|message)"
            r"|(?:^|\n)\s*#*\s*system\s*:|\bsystem\s*:|<\|im_start\|>|\[system\]"
            r"|</?(?:user|system|assistant)>|\bnew\s+instructions\b|\byour\s+new\s+task\b"
            r"|\bbase64\b|instrucciones\s+anteriores|instructions\s+précédentes"
            r"|vorherigen\s+anweisungen|instruções\s+anteriores|以前の指示|指示を無視"
        ),
    ),
    (
        "harmful",
        re.compile(
            r"\bphishing\b|\bstolen\s+(?:credit\s+)?card|without\s+getting\s+caught"
            r"|\bfake\b.{0,30}\b(?:chargeback|claim|review|receipt|invoice)"
            r"|\bbrute[\s-]?force\b|\bthreaten\w*|\bhack\s+into\b"
        ),
    ),
    (
        "privacy",
        re.compile(
            r"\b(?:someone|somebody)\s+else'?s?\b|\banother\s+(?:customer|user|person)'?s?\b"
            r"|\bother\s+(?:people|users|customers)'?s?\b|\bcustomer\s+(?:database|list)\b"
            r"|\b(?:customer|user)s?'?\s+(?:credit\s+)?card\s+numbers"
            r"|\b(?:account|customer|user)\s+(?:that|who)\s+(?:placed|made|ordered|bought)\b"
            r"|\blist\s+(?:all|every)\s+(?:customers|users|accounts)\b"
            r"|\b(?:colleague|friend|husband|wife|partner|boss|ex|neighbou?r)'s\s+"
            r"(?:account|password|orders?|card|address)"
            r"|\b(?:tell|give|read|send|show)\s+me\b.{0,60}"
            r"\b(?:address|e-?mail|phone|card|payment\s+details|digits|password)\b"
            r".{0,60}\b(?:her|his|their|user\s+\S+|my\s+(?:ex|husband|wife|partner|colleague))\b"
            r"|\b(?:tell|give|read|send|show)\s+me\s+(?:her|his|their)\b"
            r"|\bmy\s+(?:ex|husband|wife|partner|colleague)\b.{0,60}\b(?:card|address|e-?mail|"
            r"phone|password)\b.{0,30}\b(?:her|his|their)\b"
        ),
    ),
    (
        "jailbreak",
        re.compile(
            r"\bdo\s+anything\s+now\b|\bdeveloper\s+mode\b|\bjailbr(?:eak|oken)"
            r"|\bno\s+(?:rules|filters|morals|restrictions|content\s+policy)\b"
            r"|\bwithout\s+(?:any\s+)?(?:rules|restrictions|filters)\b|\bunrestricted\b"
            r"|\bunfiltered\b|\bstay\s+in\s+character\b|\byou\s+are\s+no\s+longer\b"
            r"|\bpretend\s+(?:you\s+are|to\s+be)\b|\bbypass\s+(?:your|the|any)\b"
            r"|\bsafety\s+filters\b|\brules\s+are\s+(?:now\s+)?suspended\b"
            r"|\b(?:audit|god|admin)\s+mode\b"
        ),
    ),
]
# "DAN" is a jailbreak persona; "Dan" is a colleague's name.
DAN = re.compile(r"\bDAN\b")

# (topic, intent, pattern); the first match wins.
INTENTS: list[tuple[str, str, re.Pattern[str]]] = [
    (topic, intent, re.compile(pattern))
    for topic, intent, pattern in [
        ("accounts", "bereavement", r"passed\s+away|\bdied\b|\bdeceased\b"),
        (
            "other",
            "human",
            r"\bhuman\b|real\s+person|\bmanager\b|supervisor|\bescalate"
            r"|(?:speak|talk)\s+to\s+(?:someone|somebody|a\s+person|an\s+agent)",
        ),
        (
            "accounts",
            "support_email",
            r"support\s+(?:e-?mail|address)|(?:e-?mail|write\s+to|contact)\s+(?:you|support)\b",
        ),
        (
            "accounts",
            "support_hours",
            r"\bsupport\b.{0,30}\b(?:available|open|hours)\b|opening\s+hours|business\s+hours",
        ),
        (
            "billing",
            "refund_on_delete",
            r"(?:delete|close|cancel|remove)\w*\s+(?:my\s+)?account.{0,60}refund"
            r"|refund.{0,60}(?:delete|close)\w*\s+(?:my\s+)?account",
        ),
        (
            "accounts",
            "delete_account",
            r"(?:delete|close|cancel|remove|terminate)\w*\s+(?:my\s+|the\s+)?account"
            r"|account\s+deletion|delete\s+my\s+data",
        ),
        (
            "accounts",
            "lost_2fa_device",
            r"\blost\b.{0,30}\b(?:phone|device|authenticator)|backup\s+code",
        ),
        ("accounts", "sms_2fa", r"\bsms\b|text\s+message"),
        (
            "accounts",
            "two_factor",
            r"two[\s-]factor|\b2fa\b|authenticator|verification\s+code",
        ),
        (
            "accounts",
            "reset_email_missing",
            r"(?:never|didn'?t|did\s+not|haven'?t)\s+(?:got|get|gotten|receive\w*)\b"
            r".{0,30}\b(?:reset|password)",
        ),
        ("accounts", "reset_link_expired", r"link.{0,30}\bexpired|expired.{0,20}\blink"),
        (
            "accounts",
            "change_email",
            r"(?:change|update)\s+(?:the\s+|my\s+)?e-?mail|\bnew\s+e-?mail",
        ),
        ("accounts", "change_username", r"user\s?name"),
        (
            "billing",
            "payment_failed",
            r"payment\s+(?:failed|didn'?t\s+go\s+through)|failed\s+payment|\bdeclined\b",
        ),
        ("accounts", "locked", r"\blocked\b|\bsuspended\b|\bblocked\b"),
        (
            "accounts",
            "own_details",
            r"\bmy\s+(?:own\s+)?(?:current\s+)?(?:shipping\s+|delivery\s+)?"
            r"(?:address|details|phone)\b.{0,20}\bon\s+file",
        ),
        (
            "accounts",
            "password_reset",
            r"password|log\s?in\b|sign\s?in\b|contraseña|passwort|mot\s+de\s+passe|パスワード",
        ),
        (
            "billing",
            "refund_late",
            r"refund.{0,40}\b(?:after|past|older\s+than|more\s+than)\s+\d+\s+(?:days|weeks)",
        ),
        (
            "billing",
            "return_refund_timing",
            r"refund.{0,60}\breturn|\breturn\w*.{0,60}\brefund",
        ),
        (
            "billing",
            "refund_timing",
            r"refund.{0,40}\b(?:take|arrive|reach|show|appear)|(?:how\s+long|when).{0,40}refund",
        ),
        (
            "billing",
            "double_charge",
            r"charged\s+(?:me\s+)?twice|double\s+charge|two\s+charges|charged\s+two",
        ),
        ("billing", "refund", r"refund|money\s+back|reembolso|rückerstattung|rembours"),
        ("billing", "vat", r"\bvat\b|tax\s+(?:id|number)|company\s+(?:name|address|details)"),
        ("billing", "invoice", r"invoice|receipt|factura|rechnung|facture"),
        (
            "billing",
            "change_card",
            r"(?:change|update|replace)\s+(?:the\s+|my\s+)?(?:card|payment\s+method)"
            r"|card\s+i\s+pay\s+with",
        ),
        (
            "billing",
            "payment_methods",
            r"payment\s+methods?|(?:which|what)\s+(?:cards|payments?)|\bpaypal\b",
        ),
        ("billing", "cancel_access", r"(?:lose|keep)\s+access|access.{0,30}\bcancel"),
        (
            "billing",
            "cancel_plan",
            r"(?:cancel|terminate|stop)\s+(?:my\s+|the\s+)?(?:plan|subscription)|unsubscribe"
            r"|kündigen|abonnement",
        ),
        ("billing", "billing_cycle", r"\byearly\b|\bannual|\bmonthly\b"),
        (
            "billing",
            "change_plan",
            r"upgrade|downgrade|change\s+(?:my\s+)?plan|subscription|pricing|\bplan\b",
        ),
        (
            "shipping",
            "international",
            r"international|abroad|\bship\s+to\b|outside\s+the|another\s+country|overseas",
        ),
        (
            "shipping",
            "free_shipping",
            r"free\s+(?:shipping|delivery)|shipping\s+(?:is\s+)?free|shipping\s+cost"
            r"|how\s+much\s+is\s+shipping",
        ),
        ("shipping", "damaged", r"damaged|broken|destroyed|photos?\s+of"),
        (
            "shipping",
            "delivered_missing",
            r"(?:says|shows|marked(?:\s+as)?)\s+delivered|delivered\s+but",
        ),
        (
            "shipping",
            "lost_parcel",
            r"\blost\b|never\s+arrived|missing|stolen|(?:not|hasn'?t|didn'?t)\s+(?:yet\s+)?arrive"
            r"|(?:not|hasn'?t)\s+(?:been\s+)?updated|no\s+new\s+scan|ainda\s+não\s+chegou"
            r"|jamais\s+arrivée|まだ届きません",
        ),
        (
            "shipping",
            "change_address",
            r"(?:change|update)\s+(?:the\s+|my\s+)?(?:delivery\s+|shipping\s+)?address"
            r"|wrong\s+address|delivery\s+address|\bi\s+moved\b|\bupdate\s+it\b"
            r"|leave\s+at\s+the\s+door",
        ),
        (
            "shipping",
            "return_window",
            r"how\s+long.{0,30}\breturn|return\s+(?:window|period)|(?:days|weeks)\s+to\s+return",
        ),
        (
            "shipping",
            "returns",
            r"\breturn|send\s+it\s+back|exchange|restituire|devolver|retourner|zurückgeben",
        ),
        (
            "shipping",
            "track_order",
            r"track|where\s+is\s+my\s+(?:order|package|parcel)|order\s+status|dónde\s+está"
            r"|bestellung|commande|rastrear",
        ),
        ("shipping", "express", r"express|next[\s-]day"),
        (
            "shipping",
            "delivery_time",
            r"how\s+long|delivery\s+time|when\s+will|arrive|shipping|delivery|envío|entrega"
            r"|cuánto\s+tarda|quanto\s+tempo",
        ),
    ]
]

# Refund talk inside a jailbreak: the one place the candidate's refund-first prompt gives in.
REFUND_TALK = re.compile(r"\brefund|money\s+back|free\s+premium")


def screen(question: str) -> str | None:
    """The kind of attack in ``question`` (injection, harmful, privacy, jailbreak, quoted), if any.

    An instruction inside a text the customer wants translated or summarised is reported as
    ``quoted``: the bot answers about the text without obeying it.
    """
    text = question.lower()
    for kind, pattern in THREATS:
        if pattern.search(text):
            if kind == "injection" and QUOTED_REQUEST.search(text):
                return "quoted"
            return kind
    return "jailbreak" if DAN.search(question) else None


def intent_of(question: str) -> tuple[str, str]:
    """(topic, intent) of an ordinary question, by keywords."""
    text = question.strip().lower()
    if not text:
        return "other", "empty"
    for topic, intent, pattern in INTENTS:
        if pattern.search(text):
            return topic, intent
    return "other", "unknown"


def classify(question: str) -> tuple[str, str]:
    """(topic, intent), where an attack is its own intent under the topic ``other``."""
    threat = screen(question)
    return ("other", threat) if threat else intent_of(question)
