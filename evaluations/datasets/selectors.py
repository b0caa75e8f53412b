"""Reads for datasets: lists, run reports, regressions against a baseline, CSV rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Count, Max, Q, QuerySet

from evaluations.models import Dataset, DatasetItem, DatasetResult, DatasetRun
from rollouts.models import AgentVersion

REGRESSIONS_SHOWN = 200
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DatasetRow:
    latest: Dataset
    versions: list[Dataset]
    items: int
    last_run: DatasetRun | None


@dataclass(frozen=True)
class CategoryRow:
    category: str
    n: int
    passed: int
    attacks: int = 0
    attacks_succeeded: int = 0

    @property
    def failed(self) -> int:
        return self.n - self.passed

    @property
    def pass_rate(self) -> float:
        return self.passed / self.n if self.n else 0.0

    @property
    def attack_success_rate(self) -> float | None:
        """Among this category's items the agent should refuse, the share it did not."""
        return self.attacks_succeeded / self.attacks if self.attacks else None


@dataclass(frozen=True)
class Regression:
    item_id: str
    category: str
    input: str
    expected: str
    expected_behaviour: str
    baseline_output: str
    output: str
    reason: str


@dataclass
class RunReport:
    run: DatasetRun
    baseline: DatasetRun | None
    n: int
    passed: int
    errors: int
    categories: list[CategoryRow]
    benign_n: int
    benign_refused: int
    latency_p50: float | None
    latency_p95: float | None
    regressions: list[Regression] = field(default_factory=list)
    regressions_total: int = 0
    improvements_total: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.n if self.n else None

    @property
    def over_refusal_rate(self) -> float | None:
        return self.benign_refused / self.benign_n if self.benign_n else None

    @property
    def attacks(self) -> int:
        return sum(row.attacks for row in self.categories)

    @property
    def attack_success_rate(self) -> float | None:
        attacks = self.attacks
        return sum(r.attacks_succeeded for r in self.categories) / attacks if attacks else None


def datasets_list() -> list[DatasetRow]:
    """Every named set with its versions, newest first, and the newest run of any version."""
    datasets = list(Dataset.objects.select_related("agent").order_by("name", "-version"))
    item_counts = dict(
        DatasetItem.objects.values("dataset_id")
        .annotate(n=Count("id"))
        .values_list("dataset_id", "n")
    )
    newest_run_ids = DatasetRun.objects.values("dataset__name").annotate(newest=Max("id"))
    last_runs = {
        run.dataset.name: run
        for run in DatasetRun.objects.select_related("dataset", "version").filter(
            id__in=[row["newest"] for row in newest_run_ids]
        )
    }
    rows: dict[str, list[Dataset]] = {}
    for dataset in datasets:
        rows.setdefault(dataset.name, []).append(dataset)
    return [
        DatasetRow(
            latest=versions[0],
            versions=versions,
            items=item_counts.get(versions[0].id, 0),
            last_run=last_runs.get(name),
        )
        for name, versions in rows.items()
    ]


def dataset_versions(*, dataset: Dataset) -> QuerySet[Dataset]:
    return Dataset.objects.filter(name=dataset.name).order_by("-version")


def dataset_items(*, dataset: Dataset, limit: int = 500) -> QuerySet[DatasetItem]:
    return dataset.items.order_by("position")[:limit]


def dataset_category_counts(*, dataset: Dataset) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in dataset.items.values("category", "expected_behaviour")
        .annotate(n=Count("id"))
        .order_by("category", "expected_behaviour")
    ]


def dataset_runs(*, dataset: Dataset) -> QuerySet[DatasetRun]:
    """Runs over any version of the named set, newest first."""
    return (
        DatasetRun.objects.filter(dataset__name=dataset.name)
        .select_related("dataset", "version", "created_by")
        .order_by("-created_at", "-id")
    )


def run_versions_for(*, dataset: Dataset) -> QuerySet[AgentVersion]:
    versions = AgentVersion.objects.select_related("agent")
    if dataset.agent_id is not None:
        versions = versions.filter(agent_id=dataset.agent_id)
    return versions.order_by("agent__slug", "created_at")


def baseline_choices(*, run: DatasetRun) -> QuerySet[DatasetRun]:
    return (
        DatasetRun.objects.filter(dataset__name=run.dataset.name, status="finished")
        .exclude(id=run.id)
        .select_related("dataset", "version")
        .order_by("-finished_at")
    )


def run_pass_summary(*, run: DatasetRun) -> dict[str, Any]:
    counts = DatasetResult.objects.filter(run_id=run.id).aggregate(
        n=Count("id"), n_passed=Count("id", filter=Q(passed=True))
    )
    n, passed = counts["n"], counts["n_passed"]
    return {
        "total": n,
        "passed": passed,
        "pass_rate": round(passed / n, 4) if n else None,
    }


def run_report(*, run: DatasetRun, baseline: DatasetRun | None = None) -> RunReport:
    """Pass rate, per-category attack success, over-refusal on benign items, latency, and the
    items that passed for the baseline but fail now (matched by item id across versions)."""
    baseline = baseline if baseline is not None else run.baseline
    results = DatasetResult.objects.filter(run_id=run.id)
    totals = results.aggregate(
        n=Count("id"),
        n_passed=Count("id", filter=Q(passed=True)),
        n_errors=Count("id", filter=~Q(error="")),
    )
    golden = run.dataset.kind == Dataset.Kind.GOLDEN
    benign = Q() if golden else Q(item__expected_behaviour="comply")
    benign_counts = results.filter(benign).aggregate(
        n=Count("id"), n_refused=Count("id", filter=Q(details__refused=True))
    )
    attack = Q(item__expected_behaviour="refuse")
    categories = [
        CategoryRow(
            category=row["item__category"] or "(none)",
            n=row["n"],
            passed=row["n_passed"],
            attacks=0 if golden else row["n_attacks"],
            attacks_succeeded=0 if golden else row["n_attacks_succeeded"],
        )
        for row in results.values("item__category")
        .annotate(
            n=Count("id"),
            n_passed=Count("id", filter=Q(passed=True)),
            n_attacks=Count("id", filter=attack),
            n_attacks_succeeded=Count("id", filter=attack & Q(passed=False)),
        )
        .order_by("item__category")
    ]
    if golden:
        categories = _tag_rows(results=results)
    latencies = [ms for ms in results.values_list("latency_ms", flat=True) if ms is not None]
    p50, p95 = (
        (float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95)))
        if latencies
        else (None, None)
    )
    report = RunReport(
        run=run,
        baseline=baseline,
        n=totals["n"],
        passed=totals["n_passed"],
        errors=totals["n_errors"],
        categories=categories,
        benign_n=benign_counts["n"],
        benign_refused=benign_counts["n_refused"],
        latency_p50=p50,
        latency_p95=p95,
    )
    if baseline is not None:
        _add_regressions(report=report, run=run, baseline=baseline)
    return report


def _tag_rows(*, results: QuerySet[DatasetResult]) -> list[CategoryRow]:
    """Golden sets carry tags rather than categories; an item counts under each of its tags."""
    counts: dict[str, list[int]] = {}
    for tags, passed in results.values_list("item__tags", "passed"):
        for tag in tags or ["(untagged)"]:
            cell = counts.setdefault(str(tag), [0, 0])
            cell[0] += 1
            cell[1] += int(passed)
    return [CategoryRow(category=tag, n=n, passed=ok) for tag, (n, ok) in sorted(counts.items())]


def _add_regressions(*, report: RunReport, run: DatasetRun, baseline: DatasetRun) -> None:
    outcome_of = dict(
        DatasetResult.objects.filter(run_id=baseline.id).values_list("item__item_id", "passed")
    )
    passed_before = {item_id for item_id, passed in outcome_of.items() if passed}
    failed_before = {item_id for item_id, passed in outcome_of.items() if not passed}
    now = DatasetResult.objects.filter(run_id=run.id)
    regressed = now.filter(passed=False, item__item_id__in=passed_before)
    report.regressions_total = regressed.count()
    report.improvements_total = now.filter(passed=True, item__item_id__in=failed_before).count()
    rows = list(regressed.select_related("item").order_by("item__position")[:REGRESSIONS_SHOWN])
    before_output = dict(
        DatasetResult.objects.filter(
            run_id=baseline.id, item__item_id__in=[r.item.item_id for r in rows]
        ).values_list("item__item_id", "output")
    )
    report.regressions = [
        Regression(
            item_id=r.item.item_id,
            category=r.item.category,
            input=r.item.input,
            expected=r.item.expected,
            expected_behaviour=r.item.expected_behaviour,
            baseline_output=before_output.get(r.item.item_id, ""),
            output=r.output,
            reason=r.error or str((r.details or {}).get("reason", "")),
        )
        for r in rows
    ]


def run_results(*, run: DatasetRun, failed_only: bool = False, limit: int = 500):
    results = DatasetResult.objects.filter(run_id=run.id).select_related("item")
    if failed_only:
        results = results.filter(passed=False)
    return results.order_by("item__position")[:limit]


CSV_HEADER = [
    "item_id",
    "category",
    "expected_behaviour",
    "input",
    "expected",
    "output",
    "error",
    "latency_ms",
    "passed",
    "refused",
    "reason",
    "baseline_passed",
    "regression",
]


def run_csv_rows(*, run: DatasetRun, baseline: DatasetRun | None = None) -> Iterator[list[str]]:
    """Every result as a CSV row; cells that a spreadsheet would run as formulas are quoted."""
    baseline = baseline if baseline is not None else run.baseline
    before: dict[str, bool] = {}
    if baseline is not None:
        before = dict(
            DatasetResult.objects.filter(run_id=baseline.id).values_list("item__item_id", "passed")
        )
    yield CSV_HEADER
    results = (
        DatasetResult.objects.filter(run_id=run.id)
        .select_related("item")
        .order_by("item__position")
    )
    for result in results.iterator(chunk_size=1000):
        item = result.item
        was = before.get(item.item_id)
        details = result.details or {}
        yield [
            _cell(value)
            for value in (
                item.item_id,
                item.category,
                item.expected_behaviour,
                item.input,
                item.expected,
                result.output,
                result.error,
                "" if result.latency_ms is None else str(result.latency_ms),
                _yes_no(result.passed),
                _yes_no(details.get("refused")),
                str(details.get("reason", "")),
                _yes_no(was),
                _yes_no(bool(was) and not result.passed) if was is not None else "",
            )
        ]


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _cell(value: str) -> str:
    # Red-team inputs are attacker-written; "=HYPERLINK(...)" must stay text in a spreadsheet.
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def latest_required_datasets(*, agent_id: int) -> list[Dataset]:
    """The newest version of every set the gate requires for this agent."""
    latest = (
        Dataset.objects.filter(Q(agent_id=agent_id) | Q(agent__isnull=True))
        .values("name")
        .annotate(version=Max("version"))
    )
    wanted = {(row["name"], row["version"]) for row in latest}
    candidates = Dataset.objects.filter(
        name__in=[name for name, _ in wanted], required_for_gate=True
    ).order_by("name")
    return [d for d in candidates if (d.name, d.version) in wanted]
