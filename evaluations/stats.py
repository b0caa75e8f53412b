"""Statistics behind the comparison page and the rollout gate.

Pure functions on plain numbers and numpy arrays. Dashboard numbers come from rollup
tables, so every estimator here works from sufficient statistics (count, sum, sum of
squares, histogram counts) rather than raw rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

DEFAULT_ALPHA = 0.05
# GrowthBook's default "sequential tuning parameter": the sample size at which the
# confidence sequence is tightest.
DEFAULT_CS_TUNING = 5000.0
SRM_P_THRESHOLD = 0.001

# Edge list of the latency histogram the rollups store, in milliseconds: 0 followed by
# round(geomspace(10, 120_000, 40)), giving 40 log-spaced buckets (about 27% wide each).
# Written out rather than computed because stored rollup rows refer to buckets by index:
# changing an edge silently corrupts every stored histogram.
LATENCY_BUCKETS_MS: tuple[int, ...] = (
    0, 10, 13, 16, 21, 26, 33, 42, 54, 69, 87, 111, 141, 180, 229, 291, 371, 472, 600, 763,
    971, 1236, 1572, 2000, 2545, 3238, 4120, 5241, 6669, 8485, 10795, 13735, 17475, 22234,
    28289, 35992, 45793, 58264, 74130, 94316, 120000,
)  # fmt: skip

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with bounds; bounds are None when the sample cannot support them."""

    estimate: float | None
    lower: float | None
    upper: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SRMResult:
    p_value: float
    mismatch: bool


def _undefined(*, n: int, estimate: float | None = None) -> Interval:
    return Interval(estimate=estimate, lower=None, upper=None, n=n)


def moments_from_sums(
    *, n: npt.ArrayLike, total: npt.ArrayLike, total_sq: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Mean and unbiased (n - 1) variance from count, sum and sum of squares.

    Works element-wise on arrays so simulations can use the exact arithmetic the gate uses.
    Callers must pass n >= 2 for a meaningful variance.
    """
    n_arr = np.asarray(n, dtype=np.float64)
    total_arr = np.asarray(total, dtype=np.float64)
    mean = total_arr / n_arr
    sum_sq_dev = np.asarray(total_sq, dtype=np.float64) - total_arr * mean
    # Cancellation in sum_sq - sum^2/n can leave a tiny negative number for constant data.
    variance = np.maximum(sum_sq_dev, 0.0) / (n_arr - 1.0)
    return mean, variance


# A page shows dozens of intervals at the same confidence; scipy's ppf costs ~0.1 ms a call.
@lru_cache(maxsize=4096)
def _t_quantile(*, alpha: float, df: int) -> float:
    """Two-sided Student t critical value."""
    return float(sps.t.ppf(1.0 - alpha / 2.0, df=df))


@lru_cache(maxsize=64)
def _z_quantile(*, alpha: float) -> float:
    """Two-sided normal critical value."""
    return float(sps.norm.ppf(1.0 - alpha / 2.0))


def mean_ci(*, n: int, total: float, total_sq: float, alpha: float = DEFAULT_ALPHA) -> Interval:
    """Mean with a two-sided Student t interval, from rollup sums."""
    if n <= 0:
        return _undefined(n=0)
    if n == 1:
        return _undefined(n=1, estimate=float(total))
    mean, variance = moments_from_sums(n=n, total=total, total_sq=total_sq)
    half = _t_quantile(alpha=alpha, df=n - 1) * math.sqrt(float(variance) / n)
    return Interval(estimate=float(mean), lower=float(mean) - half, upper=float(mean) + half, n=n)


def paired_difference_ci(
    *, n: int, total: float, total_sq: float, alpha: float = DEFAULT_ALPHA
) -> Interval:
    """Mean of per-pair differences (candidate - production) with a paired t interval.

    The sums are of the differences d_i, not of either arm: pairing removes the
    between-interaction variance that two independent means would carry.
    """
    return mean_ci(n=n, total=total, total_sq=total_sq, alpha=alpha)


def proportion_ci(*, successes: int, n: int, alpha: float = DEFAULT_ALPHA) -> Interval:
    """Proportion with a Wilson score interval.

    Wilson rather than the Wald interval because error and thumbs-down rates sit near 0,
    where Wald collapses to zero width and covers badly.
    """
    if n <= 0:
        return _undefined(n=0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within [0, {n}], got {successes}")
    return _wilson(p_hat=successes / n, n=n, alpha=alpha)


def _wilson(*, p_hat: float, n: int, alpha: float) -> Interval:
    z = _z_quantile(alpha=alpha)
    z2_n = z * z / n
    centre = (p_hat + z2_n / 2.0) / (1.0 + z2_n)
    half = z / (1.0 + z2_n) * math.sqrt(p_hat * (1.0 - p_hat) / n + z2_n / (4.0 * n))
    return Interval(
        estimate=p_hat, lower=max(0.0, centre - half), upper=min(1.0, centre + half), n=n
    )


def win_rate_sums(
    *, wins: npt.ArrayLike, ties: npt.ArrayLike, losses: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(n, sum, sum of squares) of pairwise outcomes scored win=1, tie=0.5, loss=0."""
    wins_arr = np.asarray(wins, dtype=np.float64)
    ties_arr = np.asarray(ties, dtype=np.float64)
    n = wins_arr + ties_arr + np.asarray(losses, dtype=np.float64)
    return n, wins_arr + 0.5 * ties_arr, wins_arr + 0.25 * ties_arr


def win_rate_ci(*, wins: int, ties: int, losses: int, alpha: float = DEFAULT_ALPHA) -> Interval:
    """Pairwise win rate (ties count half) with a Wilson interval on wins + ties / 2.

    Wilson on the half-credited count instead of a t interval on the 1 / 0.5 / 0 outcomes:
    any outcome in [0, 1] has variance at most p(1 - p), so the Wilson width is a
    conservative bound even with ties, it never collapses to zero width at 0% or 100%
    on small samples (where a t interval does), and it stays inside [0, 1].
    """
    n = wins + ties + losses
    if n <= 0:
        return _undefined(n=0)
    return _wilson(p_hat=(wins + 0.5 * ties) / n, n=n, alpha=alpha)


# Always-valid bounds: asymptotic confidence sequences (Waudby-Smith, Arnold, Wu, Wang,
# Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences",
# Annals of Statistics 2024, arXiv:2103.06476), implemented as GrowthBook's gbstats does
# (gbstats/frequentist/tests.py: `sequential_rho`, `sequential_interval_halfwidth`):
#
#   rho       = sqrt( (-2 ln a + ln(-2 ln a + 1)) / N* )                   (paper eq. 161)
#   halfwidth = s * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * ln( sqrt(n rho^2 + 1) / a ) )
#                                                                           (paper eq. 9)
#
# where s is the per-observation standard deviation and N* the "sequential tuning
# parameter" (the n at which the sequence is tightest). The bounds hold simultaneously
# for every n, so re-evaluating the gate after every batch does not inflate the error rate
# the way repeatedly checking a fixed-horizon interval does.


def sequential_rho(*, alpha: float = DEFAULT_ALPHA, tuning: float = DEFAULT_CS_TUNING) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if tuning <= 0:
        raise ValueError(f"tuning must be positive, got {tuning}")
    neg_two_log_alpha = -2.0 * math.log(alpha)
    return math.sqrt((neg_two_log_alpha + math.log(neg_two_log_alpha + 1.0)) / tuning)


def cs_halfwidth(
    *,
    n: npt.ArrayLike,
    variance: npt.ArrayLike,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_CS_TUNING,
) -> FloatArray:
    """Half-width of the two-sided asymptotic confidence sequence (element-wise)."""
    rho2 = sequential_rho(alpha=alpha, tuning=tuning) ** 2
    n_arr = np.asarray(n, dtype=np.float64)
    n_rho2_1 = n_arr * rho2 + 1.0
    radius = 2.0 * n_rho2_1 / (n_arr * n_arr * rho2) * np.log(np.sqrt(n_rho2_1) / alpha)
    return np.sqrt(np.asarray(variance, dtype=np.float64) * radius)


def cs_mean_bounds(
    *,
    n: int,
    mean: float,
    variance: float,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_CS_TUNING,
) -> Interval:
    """Always-valid bounds for a mean, given n, the sample mean and the sample variance."""
    if n <= 0:
        return _undefined(n=0)
    half = float(cs_halfwidth(n=n, variance=variance, alpha=alpha, tuning=tuning))
    return Interval(estimate=mean, lower=mean - half, upper=mean + half, n=n)


def cs_paired_difference_bounds(
    *,
    n: int,
    total: float,
    total_sq: float,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_CS_TUNING,
) -> Interval:
    """Always-valid bounds for mean(candidate - production) from sums of the differences."""
    return _cs_bounds_from_sums(n=n, total=total, total_sq=total_sq, alpha=alpha, tuning=tuning)


def _cs_bounds_from_sums(
    *, n: int, total: float, total_sq: float, alpha: float, tuning: float
) -> Interval:
    if n <= 0:
        return _undefined(n=0)
    if n == 1:
        return _undefined(n=1, estimate=float(total))
    mean, variance = moments_from_sums(n=n, total=total, total_sq=total_sq)
    return cs_mean_bounds(
        n=n, mean=float(mean), variance=float(variance), alpha=alpha, tuning=tuning
    )


def cs_win_rate_bounds(
    *,
    wins: int,
    ties: int,
    losses: int,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_CS_TUNING,
) -> Interval:
    """Always-valid bounds for the pairwise win rate (ties count half).

    Uses the observed variance of the 1 / 0.5 / 0 outcomes, as the asymptotic sequence
    prescribes; bounds are clipped to [0, 1], which never changes a comparison against a
    threshold inside that range.
    """
    n, total, total_sq = win_rate_sums(wins=wins, ties=ties, losses=losses)
    bounds = _cs_bounds_from_sums(
        n=int(n), total=float(total), total_sq=float(total_sq), alpha=alpha, tuning=tuning
    )
    if bounds.lower is None or bounds.upper is None:
        return bounds
    return Interval(
        estimate=bounds.estimate,
        lower=max(0.0, bounds.lower),
        upper=min(1.0, bounds.upper),
        n=bounds.n,
    )


def sample_ratio_mismatch(
    *,
    observed: Sequence[int],
    expected_shares: Sequence[float],
    threshold: float = SRM_P_THRESHOLD,
) -> SRMResult:
    """Chi-square goodness-of-fit of observed arm counts against the configured split.

    `expected_shares` may be fractions or percentages; they are normalised.
    """
    if len(observed) != len(expected_shares):
        raise ValueError("observed and expected_shares must have the same length")
    counts = np.asarray(observed, dtype=np.float64)
    shares = np.asarray(expected_shares, dtype=np.float64)
    if np.any(counts < 0) or np.any(shares < 0) or shares.sum() <= 0:
        raise ValueError("counts and shares must be non-negative, with a positive share")
    total = counts.sum()
    if total == 0:
        return SRMResult(p_value=1.0, mismatch=False)
    configured = shares > 0
    # Traffic in an arm configured to receive none is a mismatch whatever the volume, and
    # chi-square cannot express it (zero expected count).
    if np.any(counts[~configured] > 0):
        return SRMResult(p_value=0.0, mismatch=True)
    if configured.sum() < 2:
        return SRMResult(p_value=1.0, mismatch=False)
    expected = shares[configured] / shares[configured].sum() * total
    p_value = float(sps.chisquare(counts[configured], f_exp=expected).pvalue)
    return SRMResult(p_value=p_value, mismatch=p_value < threshold)


def cohens_kappa(
    *,
    pairs: Sequence[tuple[object, object]] | None = None,
    confusion: npt.ArrayLike | None = None,
) -> float | None:
    """Cohen's kappa between two raters (e.g. a judge and human reviewers).

    Pass either `pairs` of (rater_a_label, rater_b_label) or a square `confusion` matrix
    with rater A on rows. Returns None when chance agreement is total (both raters used a
    single identical label), where kappa is undefined.
    """
    if (pairs is None) == (confusion is None):
        raise ValueError("pass exactly one of pairs or confusion")
    if pairs is not None:
        labels = sorted({label for pair in pairs for label in pair}, key=repr)
        index = {label: i for i, label in enumerate(labels)}
        matrix = np.zeros((len(labels), len(labels)), dtype=np.float64)
        for a, b in pairs:
            matrix[index[a], index[b]] += 1
    else:
        matrix = np.asarray(confusion, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError("confusion must be a square matrix")
    total = matrix.sum()
    if total == 0:
        return None
    observed = np.trace(matrix) / total
    chance = float(matrix.sum(axis=1) @ matrix.sum(axis=0)) / (total * total)
    if math.isclose(chance, 1.0):
        return None
    return float((observed - chance) / (1.0 - chance))


def histogram_bucket(*, value_ms: float, bucket_edges: Sequence[float] = LATENCY_BUCKETS_MS) -> int:
    """Index of the bucket holding value_ms; out-of-range values go to the end buckets."""
    last_bucket = len(bucket_edges) - 2
    index = int(np.searchsorted(bucket_edges, value_ms, side="right")) - 1
    return min(max(index, 0), last_bucket)


def quantile_from_histogram(
    *, bucket_edges: Sequence[float], counts: Sequence[int], q: float
) -> float | None:
    """q-quantile (0..1) of bucketed values, interpolating linearly inside the bucket."""
    if len(counts) != len(bucket_edges) - 1:
        raise ValueError("counts needs exactly one entry per bucket (len(edges) - 1)")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    count_arr = np.asarray(counts, dtype=np.float64)
    total = count_arr.sum()
    if total <= 0:
        return None
    cumulative = np.cumsum(count_arr)
    rank = q * total
    # First bucket whose cumulative count reaches the rank; skipping empty buckets keeps
    # q=0 at the lowest observed bucket rather than at edge 0.
    bucket = int(np.searchsorted(cumulative, rank, side="left"))
    while count_arr[bucket] == 0:
        bucket += 1
    below = cumulative[bucket] - count_arr[bucket]
    fraction = (rank - below) / count_arr[bucket]
    lower, upper = float(bucket_edges[bucket]), float(bucket_edges[bucket + 1])
    return lower + fraction * (upper - lower)
