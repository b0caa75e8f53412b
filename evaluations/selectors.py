"""Reads for evaluations: judge health (the /judges/ page, GET /api/v1/judges, the CLI)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from evaluations.budgets import utc_today
from evaluations.models import Judge, JudgeDailyUsage, Score
from rollouts.models import Agent

RECENT_ERRORS = 3
NOT_DONE = (Score.Status.PENDING, Score.Status.RUNNING, Score.Status.FAILED)


def judges_health(*, agent: Agent | None = None, now: datetime | None = None) -> list[dict]:
    """One dict per judge: state, queue numbers, lag, today's spend against the budget.

    Pending, running and failed scores are counted on the (judge, status) index: they are the
    open work and the failures, not the traffic. Done scores grow with the traffic, so their
    count is the sum of the judge's daily usage rows (one per day), which the pipeline adds
    to in the transaction that marks the scores done. Spend comes from today's row.
    """
    now = now or timezone.now()
    rows = Judge.objects.select_related("agent").order_by("agent__slug", "name")
    if agent is not None:
        rows = rows.filter(agent=agent)
    judges = list(rows)
    ids = [judge.pk for judge in judges]
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for row in (
        Score.objects.filter(judge_id__in=ids, status__in=NOT_DONE)
        .values("judge_id", "status")
        .annotate(count=Count("id"))
        .order_by()
    ):
        counts[row["judge_id"]][row["status"]] = row["count"]
    for judge_id, done in (
        JudgeDailyUsage.objects.filter(judge_id__in=ids)
        .values("judge_id")
        .annotate(done=Sum("scores_done"))
        .order_by()
        .values_list("judge_id", "done")
    ):
        counts[judge_id][Score.Status.DONE] = done or 0
    oldest = dict(
        Score.objects.filter(judge_id__in=ids, status=Score.Status.PENDING)
        .values("judge_id")
        .annotate(oldest=Min("created_at"))
        .order_by()
        .values_list("judge_id", "oldest")
    )
    usage = {
        row.judge_id: row
        for row in JudgeDailyUsage.objects.filter(judge_id__in=ids, day=utc_today(now))
    }
    errors = _recent_errors(judge_ids=ids)
    return [
        _health_row(
            judge=judge,
            counts=counts[judge.pk],
            oldest_pending=oldest.get(judge.pk),
            usage=usage.get(judge.pk),
            errors=errors.get(judge.pk, []),
            now=now,
        )
        for judge in judges
    ]


def _health_row(
    *,
    judge: Judge,
    counts: dict[str, int],
    oldest_pending: datetime | None,
    usage: JudgeDailyUsage | None,
    errors: list[str],
    now: datetime,
) -> dict:
    lag = (now - oldest_pending).total_seconds() if oldest_pending else None
    tokens_today = usage.tokens if usage else 0
    cost_today = float(usage.cost_usd) if usage else 0.0
    return {
        "judge_id": judge.pk,
        "agent_id": judge.agent_id,
        "agent_slug": judge.agent.slug,
        "name": judge.name,
        "kind": judge.kind,
        "enabled": judge.enabled,
        "paused": judge.is_paused,
        "paused_reason": judge.paused_reason,
        "paused_at": judge.paused_at,
        "paused_until": judge.paused_until,
        "sample_rate": judge.sample_rate,
        "pending": counts.get(Score.Status.PENDING, 0),
        "running": counts.get(Score.Status.RUNNING, 0),
        "done": counts.get(Score.Status.DONE, 0),
        "failed": counts.get(Score.Status.FAILED, 0),
        "oldest_pending_seconds": lag,
        "calls_today": usage.calls if usage else 0,
        "tokens_today": tokens_today,
        "cost_today_usd": cost_today,
        "daily_token_budget": judge.daily_token_budget,
        "daily_cost_budget_usd": (
            float(judge.daily_cost_budget_usd) if judge.daily_cost_budget_usd is not None else None
        ),
        "budget_used": _budget_used(judge=judge, tokens=tokens_today, cost=cost_today),
        "requests_per_minute": judge.requests_per_minute,
        "tokens_per_minute": judge.tokens_per_minute,
        "position_inconsistency_rate": judge.position_inconsistency_rate,
        "last_errors": errors,
    }


def _budget_used(*, judge: Judge, tokens: int, cost: float) -> float | None:
    """The larger share of the token and cost budgets spent today (None: no budget)."""
    shares = []
    if judge.daily_token_budget:
        shares.append(tokens / judge.daily_token_budget)
    if judge.daily_cost_budget_usd:
        shares.append(cost / float(judge.daily_cost_budget_usd))
    return max(shares) if shares else None


def _recent_errors(*, judge_ids: list[int]) -> dict[int, list[str]]:
    """The latest distinct errors per judge, from scores that failed or wait on a retry."""
    out: dict[int, list[str]] = defaultdict(list)
    for judge_id in judge_ids:
        rows = (
            Score.objects.filter(judge_id=judge_id)
            .filter(
                Q(status=Score.Status.FAILED)
                | Q(status=Score.Status.PENDING, next_attempt_at__isnull=False)
            )
            .exclude(last_error="")
            .order_by("-updated_at")
            .values_list("last_error", flat=True)[:20]
        )
        for error in rows:
            if error not in out[judge_id]:
                out[judge_id].append(error)
            if len(out[judge_id]) == RECENT_ERRORS:
                break
    return out
