"""Rough USD cost of judge calls, for per-judge daily budgets.

List prices change; operators should set the judge's own prices, which always win over this
table. An unknown model costs 0 rather than a guess, so budgets fall back to token limits.
"""

from __future__ import annotations

# USD per 1,000 tokens (input, output), OpenAI list prices at the time of writing.
KNOWN_PRICES_PER_1K: dict[str, tuple[float, float]] = {
    "gpt-4o": (0.0025, 0.01),
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4.1": (0.002, 0.008),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1-nano": (0.0001, 0.0004),
}


def estimate_cost_usd(
    *,
    model: str,
    tokens_in: int,
    tokens_out: int,
    price_in_per_1k: float | None = None,
    price_out_per_1k: float | None = None,
) -> float:
    known_in, known_out = _known_prices(model)
    per_1k_in = known_in if price_in_per_1k is None else price_in_per_1k
    per_1k_out = known_out if price_out_per_1k is None else price_out_per_1k
    return (tokens_in * per_1k_in + tokens_out * per_1k_out) / 1000


def _known_prices(model: str) -> tuple[float, float]:
    # Dated snapshots ("gpt-4o-mini-2024-07-18") share their family's price; the longest
    # matching family wins so "gpt-4o-mini" is not priced as "gpt-4o".
    families = [
        name for name in KNOWN_PRICES_PER_1K if model == name or model.startswith(f"{name}-")
    ]
    if not families:
        return (0.0, 0.0)
    return KNOWN_PRICES_PER_1K[max(families, key=len)]
