"""An LLM compares the candidate's answer with production's, asked in both orders."""

from __future__ import annotations

from typing import Any

from evaluations.judges.base import LLMJudgeKind, Verdict, register
from evaluations.llm import compare_pairwise

# From the candidate's side: answer "a" is the candidate, "b" is production.
_OUTCOME = {"a": ("win", 1.0), "b": ("loss", 0.0), "tie": ("tie", 0.5)}


@register
class LLMPairwiseJudge(LLMJudgeKind):
    name = "llm_pairwise"
    pairwise = True
    MAX_TOKENS = 300
    default_params = {"prompt": "pairwise_v1", "fallback_prompt": "pairwise_simple_v1"}

    def score(self, *, interaction: Any, response: Any, other: Any = None) -> Verdict:
        if other is None:
            raise ValueError("a pairwise judge needs the production response as `other`")
        result = compare_pairwise(
            client=self.client(),
            input=interaction.input or "",
            answer_a=response.output or "",
            answer_b=other.output or "",
            prompt=self.prompt("pairwise_v1"),
            fallback_prompt=str(self.params["fallback_prompt"]),
            max_tokens=self.MAX_TOKENS,
        )
        verdict, value = _OUTCOME[result.winner]
        if result.position_inconsistent:
            label = "tie (orders disagree)"
        else:
            label = {"win": "candidate wins", "loss": "production wins", "tie": "tie"}[verdict]
        forward, backward = result.rationales
        return Verdict(
            value=value,
            verdict=verdict,
            label=label,
            rationale=f"Candidate shown first: {forward} Production shown first: {backward}",
            details={
                "position_inconsistent": result.position_inconsistent,
                "order_winners": {
                    "candidate_first": _side(result.order_winners[0]),
                    "production_first": _side(result.order_winners[1]),
                },
                "prompt_version": result.prompt_version,
                "model": result.model,
            },
            tokens_in=result.tokens_in,
            tokens_out=result.tokens_out,
            cost_usd=self.cost_usd(
                tokens_in=result.tokens_in, tokens_out=result.tokens_out, model=result.model
            ),
            calls=2,
        )


def _side(winner: str) -> str:
    return {"a": "candidate", "b": "production", "tie": "tie"}[winner]
