"""The promotion gate (SPEC §5): is the candidate as good as production, within a margin?

Every check reads rollups, so the gate costs a handful of aggregate queries however much
traffic there is. Quality bounds are always-valid confidence sequences, so evaluating the
gate every minute (dashboard, beat task, Argo/Flagger polling) does not inflate false
promotions. The decision rule matches bench/gate_sim.py: pass when n >= min_samples and the
win-rate lower bound >= 0.5 - margin; harm when the upper bound < 0.5 - margin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from evaluations.models import Flag, ScoreRollup
from evaluations.stats import (
    SRM_P_THRESHOLD,
    Interval,
    cs_paired_difference_bounds,
    cs_win_rate_bounds,
    sample_ratio_mismatch,
)
from rollouts.models import Rollout
from rollouts.selectors import ALL_TRAFFIC, first_bucket, ops_totals_by_version, served_counts

PASS = "pass"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"
UNRESOLVED_FLAG_STATUSES = (Flag.Status.OPEN, Flag.Status.ESCALATED)


@dataclass(frozen=True, slots=True)
class GateCheck:
    name: str
    status: str
    value: float | None
    threshold: float | None
    detail: str
    # Non-blocking checks (sample-ratio mismatch) warn and hold automation, but do not
    # change the overall status.
    blocking: bool = True
    n: int | None = None
    lower: float | None = None
    upper: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GateResult:
    status: str
    checks: tuple[GateCheck, ...]
    sample_size: int
    evaluated_at: datetime

    @property
    def warnings(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.blocking and c.status == FAIL]

    def check(self, name: str) -> GateCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "checks": [c.as_dict() for c in self.checks],
            "sample_size": self.sample_size,
            "evaluated_at": self.evaluated_at.isoformat(),
            "warnings": [c.name for c in self.warnings],
        }


def _bound_status(*, bounds: Interval, threshold: float) -> str:
    """pass: surely at or above the threshold; fail: surely below; otherwise inconclusive."""
    if bounds.lower is None or bounds.upper is None:
        return INCONCLUSIVE
    if bounds.lower >= threshold:
        return PASS
    if bounds.upper < threshold:
        return FAIL
    return INCONCLUSIVE


def _p_value(p: float) -> str:
    return "p < 0.0001" if p < 0.0001 else f"p = {p:.4f}"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _judge_rows(*, rollout: Rollout) -> list[Mapping[str, Any]]:
    return list(
        ScoreRollup.objects.filter(
            agent_id=rollout.agent_id,
            version_id=rollout.candidate_id,
            baseline_id=rollout.production_id,
            slice=ALL_TRAFFIC,
            kind__in=[ScoreRollup.Kind.PAIRWISE, ScoreRollup.Kind.PAIRED],
            judge__enabled=True,
        )
        .values("judge_id", "judge__name", "kind")
        .annotate(
            n=Sum("n"),
            total=Sum("total"),
            total_sq=Sum("total_sq"),
            wins=Sum("wins"),
            ties=Sum("ties"),
            losses=Sum("losses"),
        )
        .order_by("judge__name", "kind")
    )


def _win_rate_check(*, row: Mapping, rollout: Rollout) -> GateCheck:
    wins, ties, losses = int(row["wins"] or 0), int(row["ties"] or 0), int(row["losses"] or 0)
    bounds = cs_win_rate_bounds(wins=wins, ties=ties, losses=losses, alpha=rollout.alpha)
    threshold = 0.5 - rollout.margin
    return GateCheck(
        name=f"win_rate:{row['judge__name']}",
        status=_bound_status(bounds=bounds, threshold=threshold),
        value=bounds.estimate,
        threshold=threshold,
        detail=(
            f"{wins} wins, {ties} ties, {losses} losses; win rate {_fmt(bounds.estimate)} "
            f"[{_fmt(bounds.lower)}, {_fmt(bounds.upper)}], lower bound needs ≥ {threshold:.3f}"
        ),
        n=bounds.n,
        lower=bounds.lower,
        upper=bounds.upper,
    )


def _paired_check(*, row: Mapping, rollout: Rollout) -> GateCheck:
    bounds = cs_paired_difference_bounds(
        n=int(row["n"] or 0),
        total=float(row["total"] or 0),
        total_sq=float(row["total_sq"] or 0),
        alpha=rollout.alpha,
    )
    threshold = -rollout.margin
    return GateCheck(
        name=f"paired_mean:{row['judge__name']}",
        status=_bound_status(bounds=bounds, threshold=threshold),
        value=bounds.estimate,
        threshold=threshold,
        detail=(
            f"mean(candidate − production) {_fmt(bounds.estimate)} "
            f"[{_fmt(bounds.lower)}, {_fmt(bounds.upper)}] over {bounds.n} pairs, "
            f"lower bound needs ≥ {threshold:.3f}"
        ),
        n=bounds.n,
        lower=bounds.lower,
        upper=bounds.upper,
    )


def _quality_checks(*, rollout: Rollout) -> tuple[list[GateCheck], int]:
    rows = _judge_rows(rollout=rollout)
    pairwise = [r for r in rows if r["kind"] == ScoreRollup.Kind.PAIRWISE]
    paired = [r for r in rows if r["kind"] == ScoreRollup.Kind.PAIRED]
    win_checks = [_win_rate_check(row=r, rollout=rollout) for r in pairwise]
    paired_checks = [_paired_check(row=r, rollout=rollout) for r in paired]
    if win_checks:
        sample_size = max(c.n or 0 for c in win_checks)
    else:
        sample_size = max((c.n or 0 for c in paired_checks), default=0)
        win_checks = [
            GateCheck(
                name="win_rate",
                status=INCONCLUSIVE,
                value=None,
                threshold=0.5 - rollout.margin,
                detail="no pairwise judgments of the candidate against production yet",
                n=0,
            )
        ]
    samples = GateCheck(
        name="min_samples",
        status=PASS if sample_size >= rollout.min_samples else INCONCLUSIVE,
        value=float(sample_size),
        threshold=float(rollout.min_samples),
        detail=f"{sample_size} paired judgments, {rollout.min_samples} needed",
        n=sample_size,
    )
    return [samples, *win_checks, *paired_checks], sample_size


def _ops_checks(*, rollout: Rollout, candidate_id: int, production_id: int) -> list[GateCheck]:
    since = first_bucket(version_id=candidate_id)
    # Production over the same hours as the candidate, so both see the same traffic mix.
    totals = ops_totals_by_version(version_ids=[candidate_id, production_id], since=since)
    candidate, production = totals[candidate_id], totals[production_id]
    rate = candidate.error_rate
    if rate.estimate is None:
        error_status = INCONCLUSIVE
    else:
        error_status = PASS if rate.estimate <= rollout.max_error_rate else FAIL
    prod_rate = production.error_rate.estimate
    error = GateCheck(
        name="error_rate",
        status=error_status,
        value=rate.estimate,
        threshold=rollout.max_error_rate,
        detail=(
            f"{candidate.errors} errors in {candidate.responses} candidate responses "
            f"[{_fmt(rate.lower)}, {_fmt(rate.upper)}]; production {_fmt(prod_rate)}"
        ),
        n=rate.n,
        lower=rate.lower,
        upper=rate.upper,
    )
    cand_p95, prod_p95 = candidate.latency_quantile(0.95), production.latency_quantile(0.95)
    ratio = cand_p95 / prod_p95 if cand_p95 is not None and prod_p95 else None
    latency = GateCheck(
        name="p95_latency_ratio",
        status=(
            INCONCLUSIVE
            if ratio is None
            else PASS
            if ratio <= rollout.max_p95_latency_ratio
            else FAIL
        ),
        value=ratio,
        threshold=rollout.max_p95_latency_ratio,
        detail=(
            f"p95 candidate {_fmt(cand_p95, 0)} ms vs production {_fmt(prod_p95, 0)} ms"
            if ratio is not None
            else "latency of both versions needed"
        ),
        n=candidate.latency_n,
    )
    return [error, latency]


def _critical_flags_check(*, rollout: Rollout) -> GateCheck:
    count = Flag.objects.filter(
        agent_id=rollout.agent_id,
        version_id=rollout.candidate_id,
        severity=Flag.Severity.CRITICAL,
        status__in=UNRESOLVED_FLAG_STATUSES,
    ).count()
    return GateCheck(
        name="critical_flags",
        status=PASS if count == 0 else FAIL,
        value=float(count),
        threshold=0.0,
        detail=f"{count} unresolved critical flag(s) on the candidate",
        n=count,
    )


def _step_window_start(rollout: Rollout) -> datetime | None:
    """First whole hour of the current step: earlier hours ran under another split."""
    started = rollout.step_started_at
    if started is None:
        return None
    hour = started.replace(minute=0, second=0, microsecond=0)
    return hour if hour == started else hour + timedelta(hours=1)


def _sample_ratio_check(*, rollout: Rollout, candidate_id: int, production_id: int) -> GateCheck:
    observed = served_counts(
        version_ids=[production_id, candidate_id],
        since=_step_window_start(rollout),
    )
    expected = [100 - rollout.candidate_percent, rollout.candidate_percent]
    threshold = SRM_P_THRESHOLD
    if sum(observed) == 0:
        return GateCheck(
            name="sample_ratio",
            status=INCONCLUSIVE,
            value=None,
            threshold=threshold,
            detail="no served traffic in the current step yet",
            blocking=False,
            n=0,
        )
    srm = sample_ratio_mismatch(observed=observed, expected_shares=expected)
    return GateCheck(
        name="sample_ratio",
        status=FAIL if srm.mismatch else PASS,
        value=srm.p_value,
        threshold=threshold,
        detail=(
            f"served production {observed[0]}, candidate {observed[1]}; configured "
            f"{expected[0]}/{expected[1]}; chi-square {_p_value(srm.p_value)}"
            + (
                " — check the client's routing before trusting these numbers"
                if srm.mismatch
                else ""
            )
        ),
        blocking=False,
        n=sum(observed),
    )


def _coerce_check(item: GateCheck | Mapping) -> GateCheck:
    if isinstance(item, GateCheck):
        return item
    return GateCheck(
        name=str(item["name"]),
        status=str(item["status"]),
        value=item.get("value"),
        threshold=item.get("threshold"),
        detail=str(item.get("detail", "")),
        blocking=bool(item.get("blocking", True)),
        n=item.get("n"),
    )


def _dataset_checks(*, rollout: Rollout) -> list[GateCheck]:
    """Required dataset runs, once the datasets feature provides its check."""
    try:
        from evaluations.datasets.gate import dataset_checks
    except ModuleNotFoundError as exc:
        if exc.name not in ("evaluations.datasets", "evaluations.datasets.gate"):
            raise
        return []
    items: Iterable[GateCheck | Mapping] = dataset_checks(rollout=rollout)
    return [_coerce_check(item) for item in items]


def _overall(checks: Iterable[GateCheck]) -> str:
    statuses = {c.status for c in checks if c.blocking}
    if FAIL in statuses:
        return FAIL
    if INCONCLUSIVE in statuses:
        return INCONCLUSIVE
    return PASS


def gate_evaluate(*, rollout: Rollout, now: datetime | None = None) -> GateResult:
    now = now or timezone.now()
    candidate_id, production_id = rollout.candidate_id, rollout.production_id
    if candidate_id is None or production_id is None:
        missing = GateCheck(
            name="candidate",
            status=INCONCLUSIVE,
            value=None,
            threshold=None,
            detail="no candidate version to compare with production",
        )
        return GateResult(status=INCONCLUSIVE, checks=(missing,), sample_size=0, evaluated_at=now)
    quality, sample_size = _quality_checks(rollout=rollout)
    checks = [
        *quality,
        *_ops_checks(rollout=rollout, candidate_id=candidate_id, production_id=production_id),
        _critical_flags_check(rollout=rollout),
        *_dataset_checks(rollout=rollout),
        _sample_ratio_check(
            rollout=rollout, candidate_id=candidate_id, production_id=production_id
        ),
    ]
    return GateResult(
        status=_overall(checks),
        checks=tuple(checks),
        sample_size=sample_size,
        evaluated_at=now,
    )


def gate_harm(*, rollout: Rollout, result: GateResult) -> list[str]:
    """Evidence that the candidate hurts users, strong enough to roll back without a human.

    Stricter than a failing check: the win rate needs min_samples (as in the simulation),
    the error rate must be over the limit by its lower bound, and only critical flags
    raised during the current step count (older ones were there when someone chose to
    move on).
    """
    evidence: list[str] = []
    boundary = 0.5 - rollout.margin
    for check in result.checks:
        if (
            check.name.startswith("win_rate")
            and (check.n or 0) >= rollout.min_samples
            and check.upper is not None
            and check.upper < boundary
        ):
            evidence.append(
                f"{check.name}: upper bound {check.upper:.3f} < {boundary:.3f} over {check.n} pairs"
            )
    error = result.check("error_rate")
    if error and error.lower is not None and error.lower > rollout.max_error_rate:
        evidence.append(
            f"error_rate: {error.value:.3f} (lower bound {error.lower:.3f}) "
            f"over the {rollout.max_error_rate:.3f} limit"
        )
    if rollout.candidate_id is not None:
        new_flags = Flag.objects.filter(
            agent_id=rollout.agent_id,
            version_id=rollout.candidate_id,
            severity=Flag.Severity.CRITICAL,
            status__in=UNRESOLVED_FLAG_STATUSES,
        )
        if rollout.step_started_at is not None:
            new_flags = new_flags.filter(created_at__gte=rollout.step_started_at)
        ids = list(new_flags.order_by("id").values_list("id", flat=True)[:5])
        if ids:
            evidence.append(
                "critical_flags: new critical flag(s) " + ", ".join(f"#{i}" for i in ids)
            )
    return evidence
