"""Offline: does the answer refuse or deflect instead of helping?"""

from __future__ import annotations

from typing import Any

from evaluations.detectors.refusal import REFUSAL_THRESHOLD, detect_refusal
from evaluations.judges.base import JudgeKind, Verdict, register


@register
class RefusalJudge(JudgeKind):
    name = "refusal"
    default_params = {"threshold": REFUSAL_THRESHOLD}

    def score(self, *, interaction: Any, response: Any, other: Any = None) -> Verdict:
        result = detect_refusal(response.output or "", threshold=float(self.params["threshold"]))
        if not result.is_refusal:
            return Verdict(value=1.0, label="answers", details={"refusal_score": result.score})
        return Verdict(
            value=0.0,
            label="refusal",
            rationale=f"The answer refuses or deflects ({', '.join(result.matches)}).",
            details={"refusal_score": result.score, "matches": result.matches},
        )
