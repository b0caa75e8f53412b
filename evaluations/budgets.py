"""Daily token and cost budgets per judge, counted in PostgreSQL with the scores they paid for."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import F
from django.utils import timezone

from evaluations.models import Judge, JudgeDailyUsage

BUDGET_REASON = "budget exhausted until 00:00 UTC"


def utc_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def next_utc_midnight(now: datetime | None = None) -> datetime:
    return datetime.combine(utc_today(now) + timedelta(days=1), time.min, tzinfo=UTC)


def usage_today(*, judge_id: int, now: datetime | None = None) -> JudgeDailyUsage | None:
    return JudgeDailyUsage.objects.filter(judge_id=judge_id, day=utc_today(now)).first()


def budget_exhausted(*, judge: Judge, usage: JudgeDailyUsage | None) -> bool:
    if usage is None:
        return False
    if judge.daily_token_budget is not None and usage.tokens >= judge.daily_token_budget:
        return True
    return judge.daily_cost_budget_usd is not None and usage.cost_usd >= judge.daily_cost_budget_usd


def usage_add(
    *,
    judge_id: int,
    calls: int,
    tokens_in: int,
    tokens_out: int,
    cost_usd: Decimal,
    scores_done: int = 0,
    now: datetime | None = None,
) -> None:
    """Add spend and finished scores to today's row, in the transaction that records them."""
    day = utc_today(now)
    if connection.vendor == "postgresql":
        table = JudgeDailyUsage._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS u "  # noqa: S608
                "(judge_id, day, calls, tokens_in, tokens_out, cost_usd, scores_done) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT ON CONSTRAINT judgeusage_once_per_day DO UPDATE SET "
                "calls = u.calls + EXCLUDED.calls, tokens_in = u.tokens_in + EXCLUDED.tokens_in, "
                "tokens_out = u.tokens_out + EXCLUDED.tokens_out, "
                "cost_usd = u.cost_usd + EXCLUDED.cost_usd, "
                "scores_done = u.scores_done + EXCLUDED.scores_done",
                [judge_id, day, calls, tokens_in, tokens_out, cost_usd, scores_done],
            )
        return
    JudgeDailyUsage.objects.bulk_create(
        [JudgeDailyUsage(judge_id=judge_id, day=day)], ignore_conflicts=True
    )
    JudgeDailyUsage.objects.filter(judge_id=judge_id, day=day).update(
        calls=F("calls") + calls,
        tokens_in=F("tokens_in") + tokens_in,
        tokens_out=F("tokens_out") + tokens_out,
        cost_usd=F("cost_usd") + cost_usd,
        scores_done=F("scores_done") + scores_done,
    )
