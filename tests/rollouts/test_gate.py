from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.gate_sim import BOUNDARY_WIN_RATE, MIN_SAMPLES
from evaluations.models import Flag, ScoreRollup
from evaluations.stats import cs_win_rate_bounds
from rollouts.gates import FAIL, INCONCLUSIVE, PASS, gate_evaluate, gate_harm
from rollouts.models import Rollout
from tests.factories import AgentFactory, RolloutFactory
from tests.rollouts.factories import (
    critical_flag,
    hours_ago,
    ops,
    paired_evidence,
    pairwise_evidence,
    passing_evidence,
    this_hour,
)


@pytest.fixture
def rollout(db):
    return RolloutFactory(agent=AgentFactory(slug="support-bot"))


def status_of(rollout, name):
    return gate_evaluate(rollout=rollout).check(name).status


def test_clear_non_inferior_candidate_passes(rollout):
    passing_evidence(rollout)
    assert gate_evaluate(rollout=rollout).status == PASS


def test_result_lists_every_check_of_the_spec(rollout):
    passing_evidence(rollout)
    names = {c.name for c in gate_evaluate(rollout=rollout).checks}
    assert names == {
        "min_samples", "win_rate:pairwise", "paired_mean:rubric", "error_rate",
        "p95_latency_ratio", "critical_flags", "sample_ratio",
    }  # fmt: skip


def test_no_evidence_is_inconclusive(rollout):
    assert gate_evaluate(rollout=rollout).status == INCONCLUSIVE


def test_without_candidate_gate_is_inconclusive_and_says_why(rollout):
    rollout.candidate = None
    rollout.save()
    result = gate_evaluate(rollout=rollout)
    assert (result.status, result.checks[0].name) == (INCONCLUSIVE, "candidate")


def test_below_min_samples_is_inconclusive_even_with_a_great_win_rate(rollout):
    passing_evidence(rollout)
    rollout.min_samples = 5000
    rollout.save()
    assert gate_evaluate(rollout=rollout).status == INCONCLUSIVE


def test_win_rate_clearly_below_the_margin_fails(rollout):
    pairwise_evidence(rollout, wins=250, ties=100, losses=650)
    assert status_of(rollout, "win_rate:pairwise") == FAIL


def test_win_rate_near_the_boundary_is_inconclusive(rollout):
    pairwise_evidence(rollout, wins=400, ties=100, losses=500)
    assert status_of(rollout, "win_rate:pairwise") == INCONCLUSIVE


def test_win_rate_check_uses_the_always_valid_bounds(rollout):
    pairwise_evidence(rollout, wins=520, ties=80, losses=400)
    check = gate_evaluate(rollout=rollout).check("win_rate:pairwise")
    expected = cs_win_rate_bounds(wins=520, ties=80, losses=400, alpha=rollout.alpha)
    assert (check.lower, check.upper) == (expected.lower, expected.upper)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wins=st.integers(0, 3000), ties=st.integers(0, 1000), losses=st.integers(0, 3000))
def test_promotion_rule_matches_the_gate_simulation(rollout, wins, ties, losses):
    """bench/gate_sim.py promotes when n >= min_samples and lower >= 0.5 - margin."""
    rollout.min_samples, rollout.margin = MIN_SAMPLES, 0.5 - BOUNDARY_WIN_RATE
    rollout.save()
    ScoreRollup.objects.all().delete()  # hypothesis reuses the test's database
    pairwise_evidence(rollout, wins=wins, ties=ties, losses=losses)
    bounds = cs_win_rate_bounds(wins=wins, ties=ties, losses=losses)
    sim_promotes = (
        wins + ties + losses >= MIN_SAMPLES
        and bounds.lower is not None
        and bounds.lower >= BOUNDARY_WIN_RATE
    )
    result = gate_evaluate(rollout=rollout)
    gate_promotes = (
        result.check("min_samples").status == PASS
        and result.check("win_rate:pairwise").status == PASS
    )
    assert gate_promotes == sim_promotes


def test_pointwise_judge_worse_by_more_than_the_margin_fails(rollout):
    passing_evidence(rollout)
    paired_evidence(rollout, n=2000, mean=-0.2, sd=0.2, name="helpfulness")
    assert status_of(rollout, "paired_mean:helpfulness") == FAIL


def test_failing_pointwise_judge_fails_the_gate(rollout):
    passing_evidence(rollout)
    paired_evidence(rollout, n=2000, mean=-0.2, sd=0.2, name="helpfulness")
    assert gate_evaluate(rollout=rollout).status == FAIL


def test_disabled_judges_do_not_count(rollout):
    passing_evidence(rollout)
    bad = paired_evidence(rollout, n=2000, mean=-0.2, sd=0.2, name="retired")
    bad.judge.enabled = False
    bad.judge.save()
    assert gate_evaluate(rollout=rollout).status == PASS


def test_other_slices_do_not_count_as_all_traffic(rollout):
    passing_evidence(rollout)
    row = paired_evidence(rollout, n=2000, mean=-0.2, sd=0.2, name="sliced")
    row.slice = "adversarial"
    row.save()
    assert gate_evaluate(rollout=rollout).check("paired_mean:sliced") is None


def test_error_rate_over_the_limit_fails(rollout):
    passing_evidence(rollout)
    ops(rollout.candidate, responses=100, errors=100, bucket=this_hour() - timedelta(hours=1))
    assert status_of(rollout, "error_rate") == FAIL


def test_p95_latency_much_slower_than_production_fails(rollout):
    passing_evidence(rollout)
    ops(rollout.candidate, responses=3000, latency_ms=4000, bucket=this_hour() - timedelta(hours=1))
    assert status_of(rollout, "p95_latency_ratio") == FAIL


def test_latency_ratio_uses_production_over_the_candidates_hours_only(rollout):
    passing_evidence(rollout)
    before = gate_evaluate(rollout=rollout).check("p95_latency_ratio").value
    # Production was slow long before the candidate existed: that must not flatter it.
    ops(
        rollout.production, responses=5000, latency_ms=9000, bucket=this_hour() - timedelta(days=30)
    )
    assert gate_evaluate(rollout=rollout).check("p95_latency_ratio").value == before


def test_open_critical_flag_on_the_candidate_fails(rollout):
    passing_evidence(rollout)
    critical_flag(rollout)
    assert gate_evaluate(rollout=rollout).status == FAIL


def test_dismissed_critical_flag_does_not_block(rollout):
    passing_evidence(rollout)
    flag = critical_flag(rollout)
    flag.status = Flag.Status.DISMISSED
    flag.save()
    assert gate_evaluate(rollout=rollout).status == PASS


def test_sample_ratio_mismatch_is_a_non_blocking_warning(rollout):
    passing_evidence(rollout)
    rollout.candidate_percent, rollout.state = 25, Rollout.State.RAMPING
    rollout.save()
    ops(rollout.production, responses=500, served=500, bucket=this_hour() - timedelta(hours=1))
    ops(rollout.candidate, responses=500, served=500, bucket=this_hour() - timedelta(hours=1))
    result = gate_evaluate(rollout=rollout)
    assert ([w.name for w in result.warnings], result.status) == (["sample_ratio"], PASS)


def test_sample_ratio_matching_the_split_passes(rollout):
    rollout.candidate_percent = 25
    rollout.save()
    ops(rollout.production, responses=750, served=750)
    ops(rollout.candidate, responses=250, served=250)
    assert status_of(rollout, "sample_ratio") == PASS


def test_sample_ratio_only_counts_hours_of_the_current_step(rollout):
    rollout.candidate_percent = 25
    rollout.step_started_at = this_hour() - timedelta(minutes=30)
    rollout.save()
    # The previous step (5%) ran in that earlier hour: a different split, not a mismatch.
    ops(rollout.production, responses=950, served=950, bucket=this_hour() - timedelta(hours=1))
    ops(rollout.candidate, responses=50, served=50, bucket=this_hour() - timedelta(hours=1))
    ops(rollout.production, responses=750, served=750, bucket=this_hour() + timedelta(hours=0))
    ops(rollout.candidate, responses=250, served=250, bucket=this_hour() + timedelta(hours=0))
    assert status_of(rollout, "sample_ratio") == PASS


def test_gate_result_serialises_to_the_api_shape(rollout):
    passing_evidence(rollout)
    body = gate_evaluate(rollout=rollout).as_dict()
    assert set(body) >= {"status", "checks", "sample_size", "evaluated_at"} and set(
        body["checks"][0]
    ) >= {"name", "status", "value", "threshold", "detail"}


def test_harm_is_found_when_win_rate_upper_bound_is_below_the_margin(rollout):
    pairwise_evidence(rollout, wins=200, ties=100, losses=700)
    evidence = gate_harm(rollout=rollout, result=gate_evaluate(rollout=rollout))
    assert any(e.startswith("win_rate:pairwise") for e in evidence)


def test_harm_needs_min_samples_as_in_the_simulation(rollout):
    pairwise_evidence(rollout, wins=10, ties=0, losses=90)
    assert gate_harm(rollout=rollout, result=gate_evaluate(rollout=rollout)) == []


def test_only_critical_flags_raised_during_the_step_count_as_harm(rollout):
    rollout.step_started_at = hours_ago(1)
    rollout.save()
    critical_flag(rollout, created_at=hours_ago(5))
    assert gate_harm(rollout=rollout, result=gate_evaluate(rollout=rollout)) == []


def test_new_critical_flag_counts_as_harm(rollout):
    rollout.step_started_at = hours_ago(1)
    rollout.save()
    critical_flag(rollout)
    evidence = gate_harm(rollout=rollout, result=gate_evaluate(rollout=rollout))
    assert any(e.startswith("critical_flags") for e in evidence)


def test_ops_totals_add_every_hour_of_each_version(rollout):
    from rollouts.selectors import ops_totals_by_version

    rows = [
        ops(rollout.candidate, responses=300, errors=3, served=30, latency_ms=700,
            bucket=this_hour() - timedelta(hours=2), feedback_up=2, cost_usd=0.5),
        ops(rollout.candidate, responses=100, errors=1, served=10, latency_ms=2500,
            bucket=this_hour(), feedback_down=1, cost_usd=0.25),
        ops(rollout.production, responses=50, latency_ms=900),
    ]  # fmt: skip
    totals = ops_totals_by_version(version_ids=[rollout.candidate.pk, rollout.production.pk])
    candidate = totals[rollout.candidate.pk]
    expected_histogram = [
        a + b for a, b in zip(*(r.latency_histogram for r in rows[:2]), strict=True)
    ]
    assert (
        candidate.responses, candidate.errors, candidate.served, candidate.latency_n,
        candidate.feedback_up, candidate.feedback_down, candidate.cost_usd, candidate.histogram,
    ) == (400, 4, 40, 400, 2, 1, pytest.approx(0.75), expected_histogram)  # fmt: skip


def test_ops_totals_of_a_version_without_traffic_are_zero(rollout):
    from rollouts.selectors import version_ops_totals

    totals = version_ops_totals(version_id=rollout.candidate.pk)
    assert (totals.responses, totals.latency_quantile(0.95), sum(totals.histogram)) == (0, None, 0)
