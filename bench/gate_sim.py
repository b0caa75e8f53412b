"""Simulate the non-inferiority gate while paired judgments arrive.

The gate looks after every 50 pairs, up to 20,000 pairs, and decides with the always-valid
win-rate bounds from evaluations.stats:
  promote   when lower bound >= 0.5 - margin and n >= min_samples
  roll back when upper bound <  0.5 - margin and n >= min_samples
whichever happens first ends the run. Scenarios (ties 20% of pairs by default):
  (a) candidate exactly at the boundary (win rate 0.45): share falsely promoted, target <= 5%
  (b) candidate truly better (0.55): median pairs to promotion, against the sample size a
      fixed-horizon test of the same alpha needs for 80% power
  (c) harmful candidate (0.40): share rolled back, target >= 95%, and median pairs to detect

Usage: .venv/bin/python bench/gate_sim.py [--runs N] [--quick] [--seed S] [--tuning T]
Progress and targets go to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluations.stats import (  # noqa: E402
    DEFAULT_ALPHA,
    DEFAULT_CS_TUNING,
    cs_halfwidth,
    cs_win_rate_bounds,
    mean_ci,
    moments_from_sums,
    win_rate_sums,
)

MARGIN = 0.05
MIN_SAMPLES = 200
LOOK_EVERY = 50
MAX_PAIRS = 20_000
TIE_SHARE = 0.2
POWER = 0.8
BOUNDARY_WIN_RATE = 0.5 - MARGIN
BETTER_WIN_RATE = 0.55
HARMFUL_WIN_RATE = 0.40


@dataclass(frozen=True)
class Looks:
    """Cumulative counts and gate bounds at every look, shape (runs, looks)."""

    n: np.ndarray
    wins: np.ndarray
    ties: np.ndarray
    losses: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Outcome:
    promoted: np.ndarray  # bool per run
    rolled_back: np.ndarray  # bool per run
    pairs_at_decision: np.ndarray  # float per run, inf when undecided at MAX_PAIRS


def outcome_probabilities(win_rate: float) -> list[float]:
    """(win, tie, loss) probabilities with TIE_SHARE ties giving the target win rate."""
    p_win = win_rate - TIE_SHARE / 2
    return [p_win, TIE_SHARE, 1.0 - TIE_SHARE - p_win]


def simulate_looks(rng: np.random.Generator, *, win_rate: float, runs: int, tuning: float) -> Looks:
    looks = MAX_PAIRS // LOOK_EVERY
    # Drawing each 50-pair block as one multinomial is exactly the distribution of the
    # cumulative (runs x 20,000) matrix sampled at every 50th pair, at 1/50 of the memory.
    blocks = rng.multinomial(LOOK_EVERY, outcome_probabilities(win_rate), size=(runs, looks))
    cumulative = blocks.cumsum(axis=1)
    wins, ties, losses = cumulative[..., 0], cumulative[..., 1], cumulative[..., 2]
    # Same arithmetic as cs_win_rate_bounds, element-wise over every run and look.
    n, total, total_sq = win_rate_sums(wins=wins, ties=ties, losses=losses)
    mean, variance = moments_from_sums(n=n, total=total, total_sq=total_sq)
    half = cs_halfwidth(n=n, variance=variance, alpha=DEFAULT_ALPHA, tuning=tuning)
    return Looks(n, wins, ties, losses, mean, variance, mean - half, mean + half)


def check_matches_gate(looks: Looks, rng: np.random.Generator, *, tuning: float) -> None:
    """Spot-check the vectorised bounds against the scalar function the gate calls."""
    runs, n_looks = looks.n.shape
    for run, look in zip(rng.integers(runs, size=20), rng.integers(n_looks, size=20), strict=True):
        bounds = cs_win_rate_bounds(
            wins=int(looks.wins[run, look]),
            ties=int(looks.ties[run, look]),
            losses=int(looks.losses[run, look]),
            tuning=tuning,
        )
        lower = max(0.0, float(looks.lower[run, look]))
        upper = min(1.0, float(looks.upper[run, look]))
        if (
            bounds.lower is None
            or bounds.upper is None
            or not math.isclose(bounds.lower, lower, abs_tol=1e-12)
            or not math.isclose(bounds.upper, upper, abs_tol=1e-12)
        ):
            raise RuntimeError(f"vectorised ({lower}, {upper}) differ from the gate's {bounds}")


def first_look(condition: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Pairs at the first look where condition holds, per run (inf if never)."""
    hit = condition.any(axis=1)
    index = condition.argmax(axis=1)
    return np.where(hit, n[np.arange(len(n)), index], np.inf)


def gate_outcome(looks: Looks, *, lower: np.ndarray, upper: np.ndarray) -> Outcome:
    eligible = looks.n >= MIN_SAMPLES
    promote_at = first_look(eligible & (lower >= BOUNDARY_WIN_RATE), looks.n)
    rollback_at = first_look(eligible & (upper < BOUNDARY_WIN_RATE), looks.n)
    promoted = promote_at < rollback_at
    rolled_back = rollback_at < promote_at
    return Outcome(promoted, rolled_back, np.minimum(promote_at, rollback_at))


def naive_peeking_bounds(looks: Looks) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-horizon t bounds recomputed at every look: the practice the CS replaces."""
    half = sps.t.ppf(1 - DEFAULT_ALPHA / 2, df=looks.n - 1) * np.sqrt(looks.variance / looks.n)
    return looks.mean - half, looks.mean + half


def fixed_horizon_pairs() -> int:
    """Pairs a single two-sided-alpha test needs for 80% power at the 'better' win rate.

    n = ((z_{1-a/2} + z_{power}) * sigma / delta)^2 with sigma the outcome standard
    deviation under the alternative; two-sided alpha because the gate's bounds are
    two-sided (1 - alpha) bounds, so both designs hold the same one-sided error.
    """
    p_win, p_tie, _ = outcome_probabilities(BETTER_WIN_RATE)
    variance = p_win + 0.25 * p_tie - BETTER_WIN_RATE**2
    z_sum = sps.norm.ppf(1 - DEFAULT_ALPHA / 2) + sps.norm.ppf(POWER)
    return math.ceil((z_sum * math.sqrt(variance) / (BETTER_WIN_RATE - BOUNDARY_WIN_RATE)) ** 2)


def fixed_horizon_power(rng: np.random.Generator, *, pairs: int, runs: int) -> float:
    """Achieved power of the fixed-horizon test, checking the sample-size formula."""
    counts = rng.multinomial(pairs, outcome_probabilities(BETTER_WIN_RATE), size=runs)
    n, total, total_sq = win_rate_sums(wins=counts[:, 0], ties=counts[:, 1], losses=counts[:, 2])
    lowers = [
        mean_ci(n=int(k), total=float(s), total_sq=float(ss)).lower
        for k, s, ss in zip(n, total, total_sq, strict=True)
    ]
    passed = [lower is not None and lower >= BOUNDARY_WIN_RATE for lower in lowers]
    return float(np.mean(passed))


def finite_or_none(value: float) -> float | None:
    """JSON has no infinity: a median past the horizon is reported as null."""
    return value if math.isfinite(value) else None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_scenario(
    rng: np.random.Generator, *, name: str, win_rate: float, runs: int, tuning: float
) -> tuple[Looks, Outcome]:
    started = time.perf_counter()
    looks = simulate_looks(rng, win_rate=win_rate, runs=runs, tuning=tuning)
    check_matches_gate(looks, rng, tuning=tuning)
    outcome = gate_outcome(looks, lower=looks.lower, upper=looks.upper)
    log(
        f"[{name}] win rate {win_rate:.2f}: promoted {outcome.promoted.mean():.2%}, "
        f"rolled back {outcome.rolled_back.mean():.2%}, "
        f"undecided {1 - outcome.promoted.mean() - outcome.rolled_back.mean():.2%} "
        f"({time.perf_counter() - started:.1f}s)"
    )
    return looks, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="simulated runs per scenario")
    parser.add_argument("--quick", action="store_true", help="300 runs per scenario")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--tuning", type=float, default=DEFAULT_CS_TUNING)
    args = parser.parse_args()
    runs = 300 if args.quick else args.runs
    rng = np.random.default_rng(args.seed)
    log(
        f"gate_sim: {runs} runs x 3 scenarios, look every {LOOK_EVERY} pairs up to "
        f"{MAX_PAIRS}, margin {MARGIN}, alpha {DEFAULT_ALPHA}, min_samples {MIN_SAMPLES}, "
        f"ties {TIE_SHARE:.0%}, CS tuning {args.tuning:g}"
    )

    boundary_looks, boundary = run_scenario(
        rng, name="a", win_rate=BOUNDARY_WIN_RATE, runs=runs, tuning=args.tuning
    )
    naive_lower, naive_upper = naive_peeking_bounds(boundary_looks)
    naive = gate_outcome(boundary_looks, lower=naive_lower, upper=naive_upper)
    _, better = run_scenario(rng, name="b", win_rate=BETTER_WIN_RATE, runs=runs, tuning=args.tuning)
    _, harmful = run_scenario(
        rng, name="c", win_rate=HARMFUL_WIN_RATE, runs=runs, tuning=args.tuning
    )

    fixed_pairs = fixed_horizon_pairs()
    fixed_power = fixed_horizon_power(rng, pairs=fixed_pairs, runs=runs)
    false_promote = float(boundary.promoted.mean())
    median_better = float(np.median(np.where(better.promoted, better.pairs_at_decision, np.inf)))
    harm_caught = float(harmful.rolled_back.mean())
    median_harm = float(np.median(np.where(harmful.rolled_back, harmful.pairs_at_decision, np.inf)))

    log(
        f"(a) false promotion {false_promote:.2%} (target <= 5%) "
        f"{'MET' if false_promote <= 0.05 else 'MISSED'}; "
        f"fixed t-interval checked at every look would promote {naive.promoted.mean():.2%}"
    )
    log(
        f"(b) median pairs to promote {median_better:g} vs fixed horizon {fixed_pairs} "
        f"(achieved power {fixed_power:.1%}), ratio {median_better / fixed_pairs:.2f}; "
        f"promoted {better.promoted.mean():.2%}"
    )
    log(
        f"(c) harm rolled back {harm_caught:.2%} (target >= 95%) "
        f"{'MET' if harm_caught >= 0.95 else 'MISSED'}; median pairs to detect {median_harm:g}"
    )

    print(
        json.dumps(
            {
                "bench": "gate_sim",
                "false_promote": round(false_promote, 4),
                "median_pairs_better": finite_or_none(median_better),
                "fixed_horizon_pairs": fixed_pairs,
                "sample_ratio": round(median_better / fixed_pairs, 3),
                "harm_caught": round(harm_caught, 4),
                "median_pairs_harm": finite_or_none(median_harm),
                "false_promote_naive_peeking": round(float(naive.promoted.mean()), 4),
                "fixed_horizon_power": round(fixed_power, 4),
                "runs": runs,
                "tuning": args.tuning,
            }
        )
    )


if __name__ == "__main__":
    main()
