"""Compare the answer with a golden expected output: exact, normalised, fuzzy or LLM."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rapidfuzz import fuzz

from evaluations.judges.base import LLMJudgeKind, Verdict, register
from evaluations.llm import judge_equivalence

MODES = ("exact", "normalised", "fuzzy", "llm")
_PUNCTUATION = re.compile(r"[^\w\s]")


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCTUATION.sub(" ", folded).split())


def reference_of(*, interaction: Any, key: str) -> str:
    """The expected output: an ``expected`` attribute (dataset items) or a metadata key."""
    expected = getattr(interaction, "expected", None)
    if isinstance(expected, str) and expected:
        return expected
    value = (getattr(interaction, "metadata", None) or {}).get(key)
    return value if isinstance(value, str) else ""


@register
class ReferenceMatchJudge(LLMJudgeKind):
    name = "reference_match"
    MAX_TOKENS = 200
    default_params = {"mode": "fuzzy", "threshold": 0.85, "reference_key": "expected_output"}

    def __init__(self, *, params: dict[str, Any] | None = None) -> None:
        super().__init__(params=params)
        if self.params["mode"] not in MODES:
            raise ValueError(f"reference_match mode must be one of {MODES}")

    @property
    def uses_llm(self) -> bool:  # type: ignore[override]
        return self.params["mode"] == "llm"

    def applies_to(self, *, interaction: Any, response: Any) -> bool:
        return super().applies_to(interaction=interaction, response=response) and bool(
            self._reference(interaction)
        )

    def estimated_tokens(self, *, interaction: Any, response: Any, other: Any = None) -> int:
        if not self.uses_llm:
            return 0
        extra = len(self._reference(interaction)) // 4
        return super().estimated_tokens(interaction=interaction, response=response) + extra

    def _reference(self, interaction: Any) -> str:
        return reference_of(interaction=interaction, key=str(self.params["reference_key"]))

    def score(self, *, interaction: Any, response: Any, other: Any = None) -> Verdict:
        expected = self._reference(interaction)
        if not expected:
            return Verdict(value=None, label="no reference")
        output = response.output or ""
        mode = self.params["mode"]
        if mode == "llm":
            return self._llm(interaction=interaction, expected=expected, output=output)
        if mode == "exact":
            similarity = float(output.strip() == expected.strip())
        elif mode == "normalised":
            similarity = float(normalise(output) == normalise(expected))
        else:
            similarity = fuzz.token_sort_ratio(normalise(output), normalise(expected)) / 100
        matched = (
            similarity >= float(self.params["threshold"]) if mode == "fuzzy" else bool(similarity)
        )
        return Verdict(
            value=round(similarity, 4),
            label=f"{mode}: {'match' if matched else 'differs'}",
            rationale="" if matched else f"The answer differs from the reference ({mode}).",
            details={"mode": mode, "similarity": similarity, "matched": matched},
        )

    def _llm(self, *, interaction: Any, expected: str, output: str) -> Verdict:
        result = judge_equivalence(
            client=self.client(),
            input=interaction.input or "",
            expected=expected,
            output=output,
            prompt=self.prompt("equivalence_v1"),
            fallback_prompt=str(self.params.get("fallback_prompt") or "equivalence_simple_v1"),
            max_tokens=self.MAX_TOKENS,
        )
        return Verdict(
            value=1.0 if result.equivalent else 0.0,
            label="llm: equivalent" if result.equivalent else "llm: differs",
            rationale=result.rationale,
            details={
                "mode": "llm",
                "matched": result.equivalent,
                "prompt_version": result.prompt_version,
                "model": result.model,
            },
            tokens_in=result.tokens_in,
            tokens_out=result.tokens_out,
            cost_usd=self.cost_usd(
                tokens_in=result.tokens_in, tokens_out=result.tokens_out, model=result.model
            ),
            calls=1,
        )
