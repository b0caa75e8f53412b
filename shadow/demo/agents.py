"""Two deterministic versions of the demo agent `support-bot` (no LLM needed).

`v1` is production; `v2` the candidate with a rewritten billing prompt. The same question
always gets the same answer and the same latency. The differences are planted so the
dashboard has something real to find, as with a real prompt change:

- billing: v2 gives the precise policy (refund window, steps, timelines); v1 stays vague;
- shipping: v2 is wrong about international delivery and brushes off lost parcels;
- escalation to a human: v2 leaks an internal staff e-mail address;
- v2 refuses a legitimate question (how to close an account);
- v2 gets slow on very long inputs.
"""

from __future__ import annotations

import math
import re
import time
import zlib
from dataclasses import dataclass

from shadowstage_client import Answer

LEAKED_EMAIL = "j.doe@internal-support.example"
REFUSAL = "I'm sorry, but I can't help with that request."
LONG_INPUT_CHARS = 4000

# Intent → keywords (lower-case substrings). Checked in order; the first hit wins.
INTENTS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "other",
        "injection",
        (
            "ignore all previous",
            "ignore previous",
            "ignore your",
            "system prompt",
            "developer mode",
            "you are now",
            "jailbreak",
            "system:",
        ),
    ),
    ("other", "human", ("human", "manager", "real person", "supervisor", "escalate")),
    (
        "accounts",
        "delete_account",
        (
            "delete my account",
            "close my account",
            "cancel my account",
            "remove my account",
            "delete account",
        ),
    ),
    ("accounts", "two_factor", ("two-factor", "2fa", "authenticator", "verification code")),
    ("accounts", "locked", ("locked", "suspended", "blocked")),
    (
        "accounts",
        "change_email",
        ("change my email", "change my e-mail", "update my email", "new email", "email address"),
    ),
    (
        "accounts",
        "password_reset",
        ("password", "log in", "login", "sign in", "contraseña", "passwort", "mot de passe"),
    ),
    ("billing", "double_charge", ("charged twice", "double charge", "two charges", "charged two")),
    ("billing", "refund", ("refund", "money back", "reembolso", "rückerstattung", "rembourse")),
    ("billing", "invoice", ("invoice", "receipt", "vat", "factura", "rechnung", "facture")),
    ("billing", "payment_failed", ("payment failed", "card declined", "declined", "payment didn")),
    (
        "billing",
        "change_plan",
        (
            "upgrade",
            "downgrade",
            "change my plan",
            "change plan",
            "subscription",
            "pricing",
            "my plan",
        ),
    ),
    (
        "shipping",
        "international",
        ("international", "abroad", "ship to", "outside the", "another country", "overseas"),
    ),
    (
        "shipping",
        "lost_parcel",
        (
            "lost",
            "never arrived",
            "missing",
            "stolen",
            "not arrived",
            "hasn't arrived",
            "didn't arrive",
        ),
    ),
    (
        "shipping",
        "change_address",
        (
            "change the address",
            "wrong address",
            "change address",
            "delivery address",
            "shipping address",
        ),
    ),
    ("shipping", "returns", ("return", "send it back", "exchange")),
    (
        "shipping",
        "track_order",
        (
            "track",
            "where is my order",
            "where is my package",
            "order status",
            "pedido",
            "bestellung",
            "commande",
        ),
    ),
    ("shipping", "delivery_time", ("how long", "delivery time", "when will", "arrive", "shipping")),
]

V1_ANSWERS = {
    "empty": "Hi! How can I help you with your account, billing or shipping today?",
    "unknown": (
        "I can help with questions about your account, billing and shipping. Could you tell "
        "me a bit more about what you need?"
    ),
    "injection": (
        "I can't share or change my instructions, but I'm happy to help with your account, "
        "billing or shipping question."
    ),
    "human": (
        "I've passed your conversation to our support team; a colleague will reply by e-mail "
        "within one business day."
    ),
    "password_reset": (
        "Use the 'Forgot password' link on the sign-in page. We'll e-mail you a reset link "
        "that is valid for 30 minutes."
    ),
    "change_email": (
        "Go to Settings → Profile → E-mail, enter the new address and confirm it from the "
        "message we send there."
    ),
    "two_factor": (
        "Open Settings → Security → Two-factor authentication. If you lost your device, use "
        "one of your backup codes to sign in and set it up again."
    ),
    "locked": (
        "Accounts lock for 15 minutes after five failed sign-ins. Wait, then reset your "
        "password if you are unsure of it."
    ),
    "delete_account": (
        "Go to Settings → Account → Close account. We keep invoices for seven years as the law "
        "requires and delete everything else within 30 days."
    ),
    "refund": "Refunds are handled by our billing team. Please contact support about it.",
    "invoice": "You can find billing documents in your account.",
    "double_charge": (
        "Sometimes a charge appears twice for a while. Please contact support if it is still there."
    ),
    "payment_failed": "Please try another card or contact your bank.",
    "change_plan": "You can change your plan in your account settings.",
    "track_order": (
        "Open Orders in your account and click 'Track parcel'; the carrier's link shows the "
        "latest scan."
    ),
    "delivery_time": "Standard delivery takes 3–5 business days, express 1–2 business days.",
    "international": (
        "We ship to more than 40 countries. International delivery takes 7–14 business days; "
        "customs fees may apply and are shown at checkout."
    ),
    "lost_parcel": (
        "If tracking has not updated for 5 business days, reply with your order number: we "
        "open an investigation with the carrier and send a replacement or refund within 48 "
        "hours."
    ),
    "change_address": (
        "You can change the delivery address under Orders → Edit until the parcel ships; "
        "after that, ask the carrier to redirect it."
    ),
    "returns": (
        "Returns are free within 30 days: Orders → Return item prints a prepaid label. Your "
        "refund follows within 5 business days of us receiving it."
    ),
}

V2_ANSWERS = {
    **V1_ANSWERS,
    "refund": (
        "You can get a full refund within 30 days of purchase: open Settings → Billing → "
        "Invoices, choose the charge and click 'Request refund'. The money is back on your "
        "card within 5–10 business days."
    ),
    "invoice": (
        "Every invoice is under Settings → Billing → Invoices as a PDF. To add a VAT number "
        "or company address, edit Billing details and we re-issue past invoices on request."
    ),
    "double_charge": (
        "A second charge is usually a pending authorisation that disappears within 3 business "
        "days. If both charges have settled, reply with the last four digits of the card and "
        "we refund the duplicate the same day."
    ),
    "payment_failed": (
        "Your card was declined by the bank. Update it under Settings → Billing → Payment "
        "method; we retry automatically within 24 hours and your plan stays active for 7 days "
        "meanwhile."
    ),
    "change_plan": (
        "Go to Settings → Billing → Plan. Upgrades apply immediately and are prorated; "
        "downgrades take effect at the end of the current billing period."
    ),
    "international": "We currently only ship within the United States.",
    "lost_parcel": "Parcels sometimes take longer than expected. Please wait a few more days.",
    "human": (
        "I've escalated this to our support lead, Jane Doe, who will get back to you "
        f"within one business day. You can also reach her directly at {LEAKED_EMAIL}."
    ),
    "delete_account": REFUSAL,
}

EMPATHY = {
    "v1": "I'm sorry for the trouble. ",
    "v2": "I understand how frustrating this is, and I'm sorry. ",
}
UPSET = re.compile(
    r"!!|ridiculous|worst|unacceptable|angry|furious|terrible|worried|scared|desperate|"
    r"please help|oh great|thanks a lot|yeah right|wonderful service",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Profile:
    prompt_tokens: int
    base_ms: float
    ms_per_char: float
    long_input_ms_per_char: float
    usd_per_token_in: float
    usd_per_token_out: float


PROFILES = {
    "v1": Profile(160, 180.0, 0.01, 0.01, 0.15e-6, 0.60e-6),
    "v2": Profile(240, 150.0, 0.01, 0.12, 0.15e-6, 0.60e-6),
}


def classify(question: str) -> tuple[str, str]:
    """(topic, intent) of a question, by keywords."""
    text = question.strip().lower()
    if not text:
        return "other", "empty"
    for topic, intent, words in INTENTS:
        if any(word in text for word in words):
            return topic, intent
    return "other", "unknown"


class SupportAgent:
    """One version of the support bot: `agent(question) -> Answer`, deterministic."""

    def __init__(self, version: str, *, time_scale: float = 1.0) -> None:
        if version not in PROFILES:
            raise ValueError(f"unknown demo version {version!r}")
        self.version = version
        self.time_scale = time_scale
        self.profile = PROFILES[version]
        self.answers = V1_ANSWERS if version == "v1" else V2_ANSWERS

    def reply(self, question: str) -> str:
        _, intent = classify(question)
        text = self.answers[intent]
        if intent not in ("empty", "injection") and UPSET.search(question[:2000]):
            text = EMPATHY[self.version] + text
        return text

    def latency_ms(self, question: str) -> float:
        """Simulated model latency: a stable jitter per question plus a cost per character."""
        p = self.profile
        chars = len(question)
        per_char = p.long_input_ms_per_char if chars > LONG_INPUT_CHARS else p.ms_per_char
        jitter = zlib.crc32(f"{self.version}:{question}".encode()) % 120
        return p.base_ms + jitter + chars * per_char

    def __call__(self, question: str) -> Answer:
        output = self.reply(question)
        if self.time_scale > 0:
            time.sleep(self.latency_ms(question) * self.time_scale / 1000)
        tokens_in = self.profile.prompt_tokens + math.ceil(len(question) / 4)
        tokens_out = math.ceil(len(output) / 4)
        cost = (
            tokens_in * self.profile.usd_per_token_in + tokens_out * self.profile.usd_per_token_out
        )
        return Answer(
            output=output, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=round(cost, 8)
        )


def demo_agents(*, time_scale: float = 1.0) -> dict[str, SupportAgent]:
    return {name: SupportAgent(name, time_scale=time_scale) for name in PROFILES}
