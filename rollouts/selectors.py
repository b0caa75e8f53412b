"""Reads for the rollout page, the API and the gate. Numbers come from rollups, never raw rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Min, QuerySet, Sum

from evaluations.comparison_rollups import LATENCY_BINS, histogram_totals
from evaluations.models import VersionRollup
from evaluations.stats import (
    LATENCY_BUCKETS_MS,
    Interval,
    proportion_ci,
    quantile_from_histogram,
)
from rollouts.models import Agent, AgentVersion, Rollout, RolloutApproval, RolloutEvent

SHADOW_STEP = "shadow"
ALL_TRAFFIC = ""


@dataclass
class OpsTotals:
    """Operational sums of one version over a window of hourly rollups (all traffic)."""

    responses: int = 0
    served: int = 0
    errors: int = 0
    cost_usd: float = 0.0
    latency_n: int = 0
    feedback_up: int = 0
    feedback_down: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * LATENCY_BINS)

    def latency_quantile(self, q: float) -> float | None:
        if not any(self.histogram):
            return None
        value = quantile_from_histogram(bucket_edges=LATENCY_BUCKETS_MS, counts=self.histogram, q=q)
        return None if value is None else float(value)

    @property
    def error_rate(self) -> Interval:
        return proportion_ci(successes=self.errors, n=self.responses)

    @property
    def thumbs_up_rate(self) -> Interval:
        return proportion_ci(successes=self.feedback_up, n=self.feedback_up + self.feedback_down)

    @property
    def cost_per_1k(self) -> float | None:
        return self.cost_usd / self.responses * 1000 if self.responses else None


def rollout_for_agent(*, agent: Agent) -> Rollout | None:
    return (
        Rollout.objects.select_related("agent", "production", "candidate", "previous")
        .filter(agent=agent)
        .first()
    )


OPS_COUNTERS = (
    "responses",
    "served",
    "errors",
    "cost_usd",
    "latency_n",
    "feedback_up",
    "feedback_down",
)


def ops_totals_by_version(
    *, version_ids: list[int], since: datetime | None = None, served_only: bool = False
) -> dict[int, OpsTotals]:
    """Sum each version's hourly rollups from `since` (a bucket start) on.

    The database adds the counters and the latency histograms (one grouped query each), so
    no hourly row or its JSON is loaded here, however long the window.
    """
    rows = VersionRollup.objects.filter(version_id__in=version_ids, slice=ALL_TRAFFIC)
    if since is not None:
        rows = rows.filter(bucket__gte=since)
    if served_only:
        rows = rows.filter(served__gt=0)
    totals = {version_id: OpsTotals() for version_id in version_ids}
    for version_id, *counters in (
        rows.values_list("version_id")
        .annotate(**{name: Sum(name) for name in OPS_COUNTERS})
        .order_by()
    ):
        for name, value in zip(OPS_COUNTERS, counters, strict=True):
            setattr(totals[version_id], name, value or 0)
    histograms = histogram_totals(
        rows, keys=("version_id",), column="latency_histogram", size=LATENCY_BINS
    )
    for (version_id,), counts in histograms.items():
        totals[version_id].histogram = [int(c) for c in counts]
    return totals


def version_ops_totals(
    *, version_id: int, since: datetime | None = None, served_only: bool = False
) -> OpsTotals:
    """Sum one version's hourly rollups from `since` (a bucket start) on."""
    return ops_totals_by_version(version_ids=[version_id], since=since, served_only=served_only)[
        version_id
    ]


def first_bucket(*, version_id: int, served_only: bool = False) -> datetime | None:
    rows = VersionRollup.objects.filter(version_id=version_id, slice=ALL_TRAFFIC)
    if served_only:
        rows = rows.filter(served__gt=0)
    return rows.aggregate(first=Min("bucket"))["first"]


def served_counts(*, version_ids: list[int], since: datetime | None) -> list[int]:
    """Served responses per version (in the given order) in buckets starting at `since` or later."""
    rows = VersionRollup.objects.filter(version_id__in=version_ids, slice=ALL_TRAFFIC)
    if since is not None:
        rows = rows.filter(bucket__gte=since)
    by_version = dict(
        rows.values("version_id").annotate(served=Sum("served")).values_list("version_id", "served")
    )
    return [int(by_version.get(version_id) or 0) for version_id in version_ids]


@dataclass(frozen=True)
class Arm:
    role: str
    version: AgentVersion
    totals: OpsTotals


def served_arms(*, rollout: Rollout) -> tuple[list[Arm], datetime | None]:
    """The two versions users actually saw, compared since both served users.

    During a ramp that is production and candidate; right after a promotion it is the new
    production and the previous one. Returns no arms until both have served users.
    """
    if rollout.production is None:
        return [], None
    production = rollout.production
    other_role, other = ("candidate", rollout.candidate)
    if other is None:
        other_role, other = ("previous", rollout.previous)
    if other is None:
        return [], None
    firsts = [
        first_bucket(version_id=version_id, served_only=True)
        for version_id in (production.pk, other.pk)
    ]
    if None in firsts:
        return [], None
    # Only the hours since both served users compare like with like.
    start = max(firsts)  # type: ignore[type-var]
    totals = ops_totals_by_version(version_ids=[production.pk, other.pk], since=start)
    arms = [
        Arm(role, version, totals[version.pk])
        for role, version in (("production", production), (other_role, other))
    ]
    return arms, start


def rollout_timeline(*, rollout: Rollout, limit: int = 100) -> QuerySet[RolloutEvent]:
    return rollout.events.select_related("actor").order_by("-created_at", "-id")[:limit]


def pending_approvals(*, rollout: Rollout) -> QuerySet[RolloutApproval]:
    return rollout.approvals.filter(status=RolloutApproval.Status.PENDING).select_related(
        "requested_by"
    )


def plan_steps(*, rollout: Rollout) -> list[str | int]:
    """The plan as an ordered list: "shadow" first if present, then ascending percents."""
    steps: list[str | int] = []
    for step in rollout.plan or []:
        if step == SHADOW_STEP and SHADOW_STEP not in steps:
            steps.append(SHADOW_STEP)
        elif isinstance(step, int) and not isinstance(step, bool) and 0 < step <= 100:
            steps.append(step)
    percents = sorted({s for s in steps if isinstance(s, int)})
    return ([SHADOW_STEP] if SHADOW_STEP in steps else []) + percents


def current_step(*, rollout: Rollout) -> str | int | None:
    """The plan step the rollout sits on, or None (idle, off-plan percent, after promotion)."""
    if rollout.candidate_id is None:
        return None
    if rollout.candidate_percent == 0:
        return SHADOW_STEP if rollout.shadow_percent > 0 else None
    return (
        rollout.candidate_percent
        if rollout.candidate_percent in plan_steps(rollout=rollout)
        else None
    )


def next_step(*, rollout: Rollout) -> str | int | None:
    """The step after the current state, or None at (or past) the last one."""
    if rollout.candidate_id is None:
        return None
    steps = plan_steps(rollout=rollout)
    if rollout.candidate_percent == 0 and rollout.shadow_percent == 0:
        return steps[0] if steps else None
    for step in steps:
        if isinstance(step, int) and step > rollout.candidate_percent:
            return step
    return None


def needs_approval(*, rollout: Rollout, action: str, percent: int | None = None) -> bool:
    """A step at or above the policy's percent needs a second operator, going up only."""
    threshold = rollout.approval_required_from_percent
    if threshold is None:
        return False
    if action == RolloutApproval.Action.PROMOTE:
        # Promoting is the 100% step made permanent; it needs sign-off unless the candidate
        # already passed the threshold with one.
        return rollout.candidate_percent < threshold
    return percent is not None and percent >= threshold and percent > rollout.candidate_percent
