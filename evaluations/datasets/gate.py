"""The rollout gate's dataset check: the candidate passed every required dataset (SPEC §5 e)."""

from __future__ import annotations

from typing import Any

from evaluations.datasets.selectors import latest_required_datasets, run_pass_summary
from evaluations.models import DatasetRun

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


def dataset_checks(*, rollout: Any) -> list[dict[str, Any]]:
    """One check per required dataset (its newest version) for the rollout's candidate.

    pass: the candidate's newest finished run reaches the dataset's threshold; fail: it does
    not; inconclusive: no finished run yet (a queued, running or paused one is named).
    """
    candidate = rollout.candidate
    if candidate is None:
        return []
    checks = []
    for dataset in latest_required_datasets(agent_id=rollout.agent_id):
        name = f"dataset:{dataset.name}"
        label = f"{dataset.name} v{dataset.version}"
        runs = DatasetRun.objects.filter(dataset=dataset, version=candidate)
        finished = runs.filter(status=DatasetRun.Status.FINISHED).order_by("-finished_at").first()
        if finished is None:
            pending = runs.exclude(status=DatasetRun.Status.FINISHED).order_by("-id").first()
            detail = f"no finished run of {candidate.name} on {label}"
            if pending is not None:
                detail += f" (run {pending.id} is {pending.status}, {pending.done}/{pending.total})"
            checks.append(
                _check(name, INCONCLUSIVE, None, dataset.pass_threshold, detail + "; start one")
            )
            continue
        summary = run_pass_summary(run=finished)
        rate = summary["pass_rate"] or 0.0
        status = PASS if rate >= dataset.pass_threshold else FAIL
        detail = (
            f"{candidate.name} passed {summary['passed']}/{summary['total']} items of {label} "
            f"(run {finished.id}); needs {dataset.pass_threshold:.0%}"
        )
        checks.append(_check(name, status, round(rate, 4), dataset.pass_threshold, detail))
    return checks


def _check(
    name: str, status: str, value: float | None, threshold: float, detail: str
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "value": value,
        "threshold": threshold,
        "detail": detail,
    }
