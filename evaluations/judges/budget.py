"""Offline: latency, tokens and cost of the answer against the agent's limits."""

from __future__ import annotations

from typing import Any

from evaluations.judges.base import JudgeKind, Verdict, register


@register
class BudgetJudge(JudgeKind):
    """Needs no text, so it also scores opted-out interactions. A limit set to null is off."""

    name = "budget"
    needs_text = False
    default_params = {"max_latency_ms": 10_000, "max_tokens": 4_000, "max_cost_usd": 0.05}

    def score(self, *, interaction: Any, response: Any, other: Any = None) -> Verdict:
        tokens = None
        if response.tokens_in is not None or response.tokens_out is not None:
            tokens = (response.tokens_in or 0) + (response.tokens_out or 0)
        cost = None if response.cost_usd is None else float(response.cost_usd)
        measured = {"latency_ms": response.latency_ms, "tokens": tokens, "cost_usd": cost}
        limits: dict[str, float | None] = {
            "latency_ms": _limit(self.params.get("max_latency_ms")),
            "tokens": _limit(self.params.get("max_tokens")),
            "cost_usd": _limit(self.params.get("max_cost_usd")),
        }
        over = [
            name
            for name, value in measured.items()
            if value is not None and (limit := limits[name]) is not None and value > limit
        ]
        details = {"measured": measured, "limits": limits, "over": over}
        if not over:
            return Verdict(value=1.0, label="within limits", details=details)
        return Verdict(
            value=0.0,
            label="over " + ", ".join(over),
            rationale="; ".join(f"{name} {measured[name]} > {limits[name]}" for name in over),
            details=details,
        )


def _limit(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)
