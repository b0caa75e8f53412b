"""An LLM grades one answer on clarity, helpfulness and accuracy (1–5 each)."""

from __future__ import annotations

from typing import Any

from evaluations.judges.base import LLMJudgeKind, Verdict, register
from evaluations.llm import RUBRIC_CRITERIA, grade_rubric


@register
class LLMRubricJudge(LLMJudgeKind):
    name = "llm_rubric"
    default_params = {"prompt": "rubric_v1", "fallback_prompt": "rubric_simple_v1"}

    def score(self, *, interaction: Any, response: Any, other: Any = None) -> Verdict:
        grade = grade_rubric(
            client=self.client(),
            input=interaction.input or "",
            output=response.output or "",
            prompt=self.prompt("rubric_v1"),
            fallback_prompt=str(self.params["fallback_prompt"]),
            max_tokens=self.MAX_TOKENS,
        )
        criteria = {
            name: {
                "score": grade.raw_scores[name],
                "value": grade.scores[name],
                "rationale": grade.rationales[name],
            }
            for name in RUBRIC_CRITERIA
        }
        weakest = min(RUBRIC_CRITERIA, key=lambda name: grade.raw_scores[name])
        mean_of_five = sum(grade.raw_scores.values()) / len(RUBRIC_CRITERIA)
        return Verdict(
            value=grade.mean,
            label=f"{mean_of_five:.1f}/5 ({weakest} {grade.raw_scores[weakest]}/5)",
            rationale=" ".join(
                f"{name.capitalize()} {grade.raw_scores[name]}/5: {grade.rationales[name]}"
                for name in RUBRIC_CRITERIA
            ),
            details={
                "criteria": criteria,
                "prompt_version": grade.prompt_version,
                "model": grade.model,
                "prompt_attempts": grade.attempts,
            },
            tokens_in=grade.tokens_in,
            tokens_out=grade.tokens_out,
            cost_usd=self.cost_usd(
                tokens_in=grade.tokens_in, tokens_out=grade.tokens_out, model=grade.model
            ),
            calls=grade.attempts,
        )
