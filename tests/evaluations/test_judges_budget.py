"""The budget judge: latency, tokens and cost against per-agent limits."""

from evaluations.judges import judge_kind
from tests.evaluations.judges_support import interaction, response


def _score(params: dict | None = None, **answer):
    judge = judge_kind("budget")(params=params or {})
    return judge.score(interaction=interaction(), response=response(**answer))


def test_within_every_limit_scores_one():
    assert _score(latency_ms=900, tokens_in=100, tokens_out=100, cost_usd=0.001).value == 1.0


def test_slow_answer_is_over_latency():
    verdict = _score({"max_latency_ms": 2000}, latency_ms=5200)
    assert (verdict.value, verdict.label) == (0.0, "over latency_ms")


def test_tokens_in_and_out_count_together():
    verdict = _score({"max_tokens": 1000}, tokens_in=600, tokens_out=600)
    assert verdict.details["over"] == ["tokens"]


def test_a_null_limit_is_off():
    assert _score({"max_cost_usd": None}, cost_usd=99.0).value == 1.0


def test_missing_measurements_are_not_violations():
    assert _score(latency_ms=None, tokens_in=None, tokens_out=None, cost_usd=None).value == 1.0


def test_budget_judge_scores_opted_out_interactions():
    judge = judge_kind("budget")()
    assert judge.applies_to(interaction=interaction(opt_out=True), response=response())
