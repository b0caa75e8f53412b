"""Statistics checked against independently computed references.

References: scipy (t intervals, paired t, Wilson, chi-square), Newcombe (1998) Table I for
Wilson intervals, the worked examples of Cohen's kappa on Wikipedia, and GrowthBook's own
gbstats test cases for the asymptotic confidence sequence.
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from evaluations.stats import (
    LATENCY_BUCKETS_MS,
    Interval,
    cohens_kappa,
    cs_halfwidth,
    cs_mean_bounds,
    cs_paired_difference_bounds,
    cs_win_rate_bounds,
    histogram_bucket,
    mean_ci,
    paired_difference_ci,
    proportion_ci,
    quantile_from_histogram,
    sample_ratio_mismatch,
    win_rate_ci,
)


def _sums(values: np.ndarray) -> dict[str, float]:
    return {"n": len(values), "total": float(values.sum()), "total_sq": float((values**2).sum())}


# --- fixed-horizon intervals -------------------------------------------------------------


def test_mean_ci_matches_scipy_t_interval_on_raw_values():
    values = np.random.default_rng(7).normal(loc=0.7, scale=0.2, size=37)
    expected = sps.t.interval(0.95, df=36, loc=values.mean(), scale=sps.sem(values))
    interval = mean_ci(**_sums(values))
    assert (interval.lower, interval.upper) == pytest.approx(expected, rel=1e-10)


def test_mean_ci_respects_alpha():
    values = np.random.default_rng(8).uniform(size=20)
    expected = sps.t.interval(0.99, df=19, loc=values.mean(), scale=sps.sem(values))
    interval = mean_ci(**_sums(values), alpha=0.01)
    assert (interval.lower, interval.upper) == pytest.approx(expected, rel=1e-10)


def test_mean_ci_of_empty_sample_is_undefined():
    assert mean_ci(n=0, total=0.0, total_sq=0.0) == Interval(None, None, None, 0)


def test_mean_ci_of_single_value_has_estimate_but_no_bounds():
    assert mean_ci(n=1, total=0.8, total_sq=0.64) == Interval(0.8, None, None, 1)


def test_mean_ci_of_constant_values_collapses_to_the_value():
    interval = mean_ci(n=3, total=0.3, total_sq=0.03)
    assert (interval.lower, interval.upper) == pytest.approx((0.1, 0.1))


def test_paired_difference_ci_matches_scipy_paired_t_test():
    rng = np.random.default_rng(9)
    production = rng.uniform(size=50)
    candidate = np.clip(production + rng.normal(0.03, 0.1, size=50), 0, 1)
    expected = sps.ttest_rel(candidate, production).confidence_interval(0.95)
    interval = paired_difference_ci(**_sums(candidate - production))
    assert (interval.lower, interval.upper) == pytest.approx(tuple(expected), rel=1e-10)


@pytest.mark.parametrize(
    ("successes", "n", "lower", "upper"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718)],
)  # fmt: skip
def test_proportion_ci_matches_newcombe_wilson_table(successes, n, lower, upper):
    interval = proportion_ci(successes=successes, n=n)
    assert (interval.lower, interval.upper) == pytest.approx((lower, upper), abs=5e-5)


def test_proportion_ci_matches_scipy_wilson():
    expected = sps.binomtest(7, 90).proportion_ci(0.9, method="wilson")
    interval = proportion_ci(successes=7, n=90, alpha=0.1)
    assert (interval.lower, interval.upper) == pytest.approx((expected.low, expected.high))


def test_proportion_ci_of_zero_trials_is_undefined():
    assert proportion_ci(successes=0, n=0).lower is None


def test_proportion_ci_rejects_more_successes_than_trials():
    with pytest.raises(ValueError, match="successes"):
        proportion_ci(successes=5, n=4)


def test_win_rate_counts_ties_as_half():
    assert win_rate_ci(wins=30, ties=20, losses=50).estimate == pytest.approx(0.4)


def test_win_rate_ci_without_ties_is_the_wilson_interval():
    expected = sps.binomtest(62, 100).proportion_ci(0.95, method="wilson")
    interval = win_rate_ci(wins=62, ties=0, losses=38)
    assert (interval.lower, interval.upper) == pytest.approx((expected.low, expected.high))


def test_win_rate_ci_with_ties_is_no_narrower_than_a_t_interval_on_outcomes():
    outcomes = np.repeat([1.0, 0.5, 0.0], [45, 30, 25])
    t_low, t_high = sps.t.interval(0.95, df=99, loc=outcomes.mean(), scale=sps.sem(outcomes))
    interval = win_rate_ci(wins=45, ties=30, losses=25)
    assert interval.upper - interval.lower >= t_high - t_low


def test_interval_as_dict_lists_every_field():
    interval = Interval(estimate=0.5, lower=0.4, upper=0.6, n=10)
    assert interval.as_dict() == {"estimate": 0.5, "lower": 0.4, "upper": 0.6, "n": 10}


# --- always-valid bounds (asymptotic confidence sequences) -------------------------------


def _relative_uplift(a_sum, a_sum_sq, a_n, b_sum, b_sum_sq, b_n):
    """Delta-method relative uplift, as GrowthBook computes it, for its reference cases."""
    mean_a, mean_b = a_sum / a_n, b_sum / b_n
    var_a = (a_sum_sq - a_sum**2 / a_n) / (a_n - 1)
    var_b = (b_sum_sq - b_sum**2 / b_n) / (b_n - 1)
    estimate = (mean_b - mean_a) / mean_a
    variance = var_b / (mean_a**2 * b_n) + var_a * mean_b**2 / (mean_a**4 * a_n)
    n = a_n + b_n
    return {"n": n, "mean": estimate, "variance": variance * n}


def test_cs_reproduces_growthbook_sequential_mean_case():
    # gbstats TestSequentialTTest.test_sequential_test_runs: ci (-0.55844, 1.56516)
    args = _relative_uplift(1396.87, 52377.9767, 3000, 2422.7, 134698.29, 3461)
    interval = cs_mean_bounds(**args, tuning=1000)
    assert (interval.lower, interval.upper) == pytest.approx((-0.55844, 1.56516), abs=5e-6)


def test_cs_reproduces_growthbook_sequential_proportion_case():
    # gbstats TestSequentialTTest.test_sequential_test_runs_prop: ci (0.40098, 0.60675)
    # GrowthBook's ProportionStatistic uses p(1 - p) as the variance, not the n - 1 form.
    p_a, p_b = 1396 / 3000, 2422 / 3461
    n = 6461
    variance = p_b * (1 - p_b) / (p_a**2 * 3461) + p_a * (1 - p_a) * p_b**2 / (p_a**4 * 3000)
    args = {"n": n, "mean": (p_b - p_a) / p_a, "variance": variance * n}
    interval = cs_mean_bounds(**args)
    assert (interval.lower, interval.upper) == pytest.approx((0.40098, 0.60675), abs=5e-6)


def test_cs_bounds_are_wider_than_the_fixed_interval_at_the_same_n():
    values = np.random.default_rng(11).uniform(size=400)
    fixed = mean_ci(**_sums(values))
    always_valid = cs_paired_difference_bounds(**_sums(values))
    assert always_valid.lower < fixed.lower and always_valid.upper > fixed.upper


@pytest.mark.parametrize("far_tuning", [10, 100_000])
def test_cs_is_tightest_when_tuned_near_the_sample_size(far_tuning):
    near = cs_mean_bounds(n=6461, mean=0.0, variance=1.0, tuning=6461)
    far = cs_mean_bounds(n=6461, mean=0.0, variance=1.0, tuning=far_tuning)
    assert near.upper < far.upper


def _peeking_miscoverage(half_width_at, runs=1000, looks=200, step=20, start=100):
    """Share of runs in which the interval ever misses the true mean over many looks."""
    rng = np.random.default_rng(12)
    true_mean = 0.3
    draws = rng.binomial(1, true_mean, size=(runs, looks * step)).astype(np.float64)
    n = np.arange(start, looks * step + 1, step)
    totals = np.cumsum(draws, axis=1)[:, n - 1]
    squares = totals  # 0/1 outcomes
    mean = totals / n
    variance = (squares - totals * mean) / (n - 1)
    half = half_width_at(n, variance)
    missed = np.abs(mean - true_mean) > half
    return missed.any(axis=1).mean()


def test_cs_keeps_miscoverage_below_alpha_under_continuous_peeking():
    def cs_half(n, variance):
        return cs_halfwidth(n=n, variance=variance)

    assert _peeking_miscoverage(cs_half) <= 0.05


def test_fixed_interval_loses_coverage_under_continuous_peeking():
    def t_half(n, variance):
        return sps.t.ppf(0.975, df=n - 1) * np.sqrt(variance / n)

    assert _peeking_miscoverage(t_half) > 0.10


def test_cs_win_rate_bounds_match_cs_on_scored_outcomes():
    outcomes = np.repeat([1.0, 0.5, 0.0], [130, 40, 110])
    expected = cs_mean_bounds(n=outcomes.size, mean=outcomes.mean(), variance=outcomes.var(ddof=1))
    interval = cs_win_rate_bounds(wins=130, ties=40, losses=110)
    assert (interval.lower, interval.upper) == pytest.approx((expected.lower, expected.upper))


def test_cs_win_rate_bounds_stay_within_zero_and_one():
    interval = cs_win_rate_bounds(wins=199, ties=1, losses=0)
    assert interval.lower >= 0.0 and interval.upper <= 1.0


def test_cs_paired_difference_bounds_match_cs_on_raw_differences():
    differences = np.random.default_rng(13).normal(0.02, 0.2, size=500)
    expected = cs_mean_bounds(
        n=500, mean=differences.mean(), variance=differences.var(ddof=1), tuning=800
    )
    interval = cs_paired_difference_bounds(**_sums(differences), tuning=800)
    assert (interval.lower, interval.upper) == pytest.approx((expected.lower, expected.upper))


@pytest.mark.parametrize("n", [0, 1])
def test_cs_bounds_are_undefined_below_two_samples(n):
    interval = cs_paired_difference_bounds(n=n, total=0.5 * n, total_sq=0.25 * n)
    assert (interval.lower, interval.upper) == (None, None)


def test_cs_rejects_alpha_outside_unit_interval():
    with pytest.raises(ValueError, match="alpha"):
        cs_mean_bounds(n=10, mean=0.0, variance=1.0, alpha=1.5)


# --- sample ratio mismatch ---------------------------------------------------------------


def test_srm_p_value_matches_chi_square_with_one_degree_of_freedom():
    # chi2 = 2 * 100^2 / 5000 = 4 -> p = P(|Z| > 2)
    result = sample_ratio_mismatch(observed=[5100, 4900], expected_shares=[0.5, 0.5])
    assert result.p_value == pytest.approx(2 * sps.norm.sf(2.0))


def test_srm_tolerates_ordinary_noise():
    result = sample_ratio_mismatch(observed=[5100, 4900], expected_shares=[0.5, 0.5])
    assert result.mismatch is False


def test_srm_flags_a_skewed_split():
    result = sample_ratio_mismatch(observed=[5500, 4500], expected_shares=[0.5, 0.5])
    assert result.mismatch is True


def test_srm_normalises_percentage_shares():
    as_percent = sample_ratio_mismatch(observed=[930, 70], expected_shares=[95, 5])
    as_fraction = sample_ratio_mismatch(observed=[930, 70], expected_shares=[0.95, 0.05])
    assert as_percent.p_value == pytest.approx(as_fraction.p_value)


def test_srm_flags_traffic_in_an_arm_configured_for_none():
    result = sample_ratio_mismatch(observed=[990, 10], expected_shares=[1.0, 0.0])
    assert result.mismatch is True


def test_srm_with_no_traffic_is_not_a_mismatch():
    result = sample_ratio_mismatch(observed=[0, 0], expected_shares=[0.5, 0.5])
    assert result.mismatch is False


# --- Cohen's kappa -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confusion", "expected"),
    [([[20, 5], [10, 15]], 0.4), ([[45, 15], [25, 15]], 0.1304), ([[25, 35], [5, 35]], 0.2593)],
)
def test_cohens_kappa_matches_worked_examples(confusion, expected):
    assert cohens_kappa(confusion=confusion) == pytest.approx(expected, abs=5e-5)


def test_cohens_kappa_from_pairs_equals_kappa_from_confusion_matrix():
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    pairs += [("no", "no")] * 15
    assert cohens_kappa(pairs=pairs) == pytest.approx(cohens_kappa(confusion=[[20, 5], [10, 15]]))


def test_cohens_kappa_of_perfect_agreement_is_one():
    assert cohens_kappa(pairs=[("pass", "pass"), ("fail", "fail"), ("pass", "pass")]) == 1.0


def test_cohens_kappa_is_undefined_when_both_raters_use_one_label():
    assert cohens_kappa(pairs=[("pass", "pass")] * 4) is None


def test_cohens_kappa_requires_exactly_one_input():
    with pytest.raises(ValueError, match="exactly one"):
        cohens_kappa()


# --- latency histogram -------------------------------------------------------------------


def test_latency_buckets_cover_zero_to_two_minutes_in_forty_buckets():
    assert (LATENCY_BUCKETS_MS[0], LATENCY_BUCKETS_MS[-1], len(LATENCY_BUCKETS_MS) - 1) == (
        0,
        120_000,
        40,
    )


def test_latency_buckets_grow_geometrically():
    ratios = np.diff(np.log(LATENCY_BUCKETS_MS[1:]))
    assert ratios.min() > 0.2 and ratios.max() < 0.3


@pytest.mark.parametrize(
    ("value_ms", "expected"), [(0, 0), (9.99, 0), (10, 1), (12, 1), (119_999, 39), (500_000, 39)]
)
def test_histogram_bucket_places_values_by_lower_edge(value_ms, expected):
    assert histogram_bucket(value_ms=value_ms) == expected


def test_histogram_bucket_puts_negative_values_in_the_first_bucket():
    assert histogram_bucket(value_ms=-5) == 0


@pytest.mark.parametrize(("q", "expected"), [(0.5, 15.0), (0.95, 28.5), (0.0, 0.0), (1.0, 30.0)])
def test_quantile_interpolates_linearly_inside_a_bucket(q, expected):
    value = quantile_from_histogram(bucket_edges=[0, 10, 20, 30], counts=[10, 10, 10], q=q)
    assert value == pytest.approx(expected)


def test_quantile_skips_leading_empty_buckets():
    value = quantile_from_histogram(bucket_edges=[0, 10, 20, 30], counts=[0, 4, 0], q=0.0)
    assert value == 10.0


@pytest.mark.parametrize("q", [0.5, 0.95])
def test_quantile_from_latency_histogram_is_within_a_bucket_of_the_exact_quantile(q):
    latencies = np.random.default_rng(14).lognormal(mean=np.log(800), sigma=0.8, size=20_000)
    counts = np.zeros(len(LATENCY_BUCKETS_MS) - 1, dtype=int)
    for value in latencies:
        counts[histogram_bucket(value_ms=value)] += 1
    approx = quantile_from_histogram(bucket_edges=LATENCY_BUCKETS_MS, counts=counts, q=q)
    exact = float(np.quantile(latencies, q))
    assert math.isclose(approx, exact, rel_tol=0.05)


def test_quantile_of_empty_histogram_is_undefined():
    assert quantile_from_histogram(bucket_edges=[0, 10, 20], counts=[0, 0], q=0.5) is None


def test_quantile_rejects_counts_that_do_not_match_the_buckets():
    with pytest.raises(ValueError, match="one entry per bucket"):
        quantile_from_histogram(bucket_edges=[0, 10, 20], counts=[1, 2, 3], q=0.5)
