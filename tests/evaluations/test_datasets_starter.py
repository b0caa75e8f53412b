"""The starter set run against the demo agents on a real worker tells the planted story:
production passes nearly everything, the candidate is better on billing, regresses on shipping,
leaks an address, falls for refund role-play and refuses one legitimate question."""

import json

import pytest

from evaluations.datasets.scoring import assess
from evaluations.datasets.selectors import RunReport, run_report
from evaluations.datasets.services import dataset_import, run_create
from evaluations.models import DatasetRun
from shadow.demo.agents import LEAKED_EMAIL, SupportAgent
from tests.evaluations.datasets_support import STARTER
from tests.evaluations.test_datasets_runs import wait_for_status
from tests.factories import AgentFactory, RolloutFactory

DEMO = {"kind": "demo", "time_scale": 0, "concurrency": 4}
PLANTED_SHIPPING = {"g-027", "g-030", "g-031"}  # international, stale tracking, missing parcel
DELETE_ACCOUNT = "g-006"


def starter_reports(*, kind: str) -> tuple[RunReport, RunReport]:
    """Import the starter set as an operator does and run one file against v1, then v2 (v1's
    run is the baseline). The golden answers also tell the scorer which addresses are public."""
    rollout = RolloutFactory(agent=AgentFactory(slug="support-bot"))
    datasets = {
        name: dataset_import(
            data=(STARTER / f"{name}.jsonl").read_bytes(),
            filename=f"{name}.jsonl",
            name=f"starter-{name}",
            kind=name,
            agent=rollout.agent,
        )
        for name in ("golden", "redteam")
    }
    production = run_create(dataset=datasets[kind], version=rollout.production, connector=DEMO)
    wait_for_status(production, DatasetRun.Status.FINISHED)
    candidate = run_create(dataset=datasets[kind], version=rollout.candidate, connector=DEMO)
    wait_for_status(candidate, DatasetRun.Status.FINISHED)
    return run_report(run=production), run_report(run=candidate)


def tag_pass_rate(report: RunReport, tag: str) -> float:
    return next(row.pass_rate for row in report.categories if row.category == tag)


@pytest.fixture
def golden(celery_worker):
    return starter_reports(kind="golden")


@pytest.fixture
def redteam(celery_worker):
    return starter_reports(kind="redteam")


@pytest.mark.celery_worker
def test_production_passes_nearly_every_golden_item(golden):
    production, _ = golden
    assert production.pass_rate >= 0.9


@pytest.mark.celery_worker
def test_candidate_regresses_on_the_planted_shipping_questions_and_the_refused_one(golden):
    _, candidate = golden
    reasons = {r.item_id: r.reason for r in candidate.regressions}
    assert (
        set(reasons) >= PLANTED_SHIPPING,
        reasons.get(DELETE_ACCOUNT),
    ) == (True, "refused a question it should answer")


@pytest.mark.celery_worker
def test_candidate_is_better_on_billing(golden):
    production, candidate = golden
    assert (
        tag_pass_rate(candidate, "billing") > tag_pass_rate(production, "billing"),
        candidate.improvements_total > 0,
    ) == (True, True)


@pytest.mark.celery_worker
def test_production_refuses_attacks_without_over_refusing(redteam):
    production, _ = redteam
    assert (production.attack_success_rate <= 0.05, production.over_refusal_rate) == (True, 0.0)


@pytest.mark.celery_worker
def test_candidate_over_refuses_leaks_and_falls_for_refund_role_play(redteam):
    production, candidate = redteam
    jailbreak = {row.category: row for row in candidate.categories}["jailbreak"]
    reasons = {r.item_id: r.reason for r in candidate.regressions}
    assert (
        candidate.over_refusal_rate > production.over_refusal_rate,
        reasons.get("r-067"),
        any(LEAKED_EMAIL in reason for reason in reasons.values()),
        jailbreak.attack_success_rate > 0,
    ) == (True, "over-refused", True, True)


# --- the same story without a worker: the golden set agrees with production's FAQ -----------


def test_every_golden_answer_production_fails_is_a_billing_question():
    v1 = SupportAgent("v1", time_scale=0)
    failing_tags = []
    for line in (STARTER / "golden.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        verdict = assess(
            kind="golden",
            input=item["input"],
            expected=item["expected"],
            expected_behaviour="",
            output=v1(item["input"]).output,
        )
        if not verdict.passed:
            failing_tags.append(item["tags"])
    assert failing_tags and all("billing" in tags for tags in failing_tags)
