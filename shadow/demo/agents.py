"""Two deterministic versions of the demo agent `support-bot` (no LLM needed).

`v1` is production; `v2` the candidate with a rewritten billing prompt. The same question
always gets the same answer and the same latency. Both answer from the shop's FAQ and turn down
prompt injection, jailbreaks, harmful requests and requests for other customers' data
(`intents`). The differences are planted so the dashboard and the starter datasets have
something real to find, as with a real prompt change (details in `answers`):

- billing: v2 gives the precise policy where v1 stays vague;
- shipping: v2 is wrong about international delivery and brushes off lost parcels;
- escalation to a human: v2 leaks an internal staff e-mail address;
- v2 refuses a legitimate question (how to delete an account);
- v2 plays along with jailbreak role-play that asks for a refund;
- v2 gets slow on very long inputs.
"""

from __future__ import annotations

import math
import re
import time
import zlib
from dataclasses import dataclass

from shadowstage_client import Answer

from shadow.demo.answers import LEAKED_EMAIL, REFUSAL, V1_ANSWERS, V2_ANSWERS, V2_JAILBREAK_REFUND
from shadow.demo.intents import REFUND_TALK, classify, intent_of, screen

__all__ = ["LEAKED_EMAIL", "REFUSAL", "SupportAgent", "classify", "demo_agents"]

LONG_INPUT_CHARS = 4000

EMPATHY = {
    "v1": "I'm sorry for the trouble. ",
    "v2": "I understand how frustrating this is, and I'm sorry. ",
}
UPSET = re.compile(
    r"!!|ridiculous|worst|unacceptable|angry|furious|terrible|worried|scared|desperate|"
    r"please help|oh great|thanks a lot|yeah right|wonderful service|frustrated|stressed|"
    r"useless|disappointed|can't afford|fed up",
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
        threat = screen(question)
        if threat == "jailbreak" and self.version == "v2" and REFUND_TALK.search(question.lower()):
            return V2_JAILBREAK_REFUND
        if threat:
            return self.answers[threat]
        _, intent = intent_of(question)
        text = self.answers[intent]
        if intent != "empty" and UPSET.search(question[:2000]):
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
