"""The dashboard's view of judge health and recent events, in one shape for the templates.

Judge health comes from `evaluations.selectors.judges_health` and events from
`rollouts.event_selectors.events_recent`; while either is not installed, the basic numbers
below stand in, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from evaluations.models import Judge, Score
from rollouts.models import Agent, RolloutEvent

# A judge whose oldest pending score waits longer than this is shown as lagging.
LAG_WARNING = timedelta(minutes=5)


@dataclass
class HealthRows:
    rows: list[dict] = field(default_factory=list)
    source: str = "basic"  # "pipeline" when the judges pipeline provides the numbers


def _pick(row: dict, *names: str, default: Any = None) -> Any:
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    return default


def _normalise(row: dict) -> dict:
    judge = row.get("judge") if isinstance(row.get("judge"), Judge) else None
    paused_reason = _pick(row, "paused_reason", default=judge.paused_reason if judge else "")
    lag = _pick(row, "queue_lag_seconds", "lag_seconds", "oldest_pending_seconds")
    if isinstance(lag, timedelta):
        lag = lag.total_seconds()
    return {
        "judge_id": _pick(row, "judge_id", "id", default=judge.pk if judge else None),
        "agent_id": _pick(row, "agent_id", default=judge.agent_id if judge else None),
        "agent_slug": _pick(row, "agent_slug", "agent", default=judge.agent.slug if judge else ""),
        "name": _pick(row, "name", default=judge.name if judge else ""),
        "kind": _pick(row, "kind", default=judge.kind if judge else ""),
        "enabled": _pick(row, "enabled", default=judge.enabled if judge else True),
        "paused": bool(_pick(row, "paused", "is_paused", default=bool(paused_reason))),
        "paused_reason": paused_reason or "",
        "paused_until": _pick(row, "paused_until", default=judge.paused_until if judge else None),
        "lag_seconds": lag,
        "lagging": bool(
            _pick(row, "lagging", default=lag is not None and lag > LAG_WARNING.total_seconds())
        ),
        "pending": _pick(row, "pending", "pending_count", default=0),
        "running": _pick(row, "running", default=0),
        "done": _pick(row, "done"),
        "budget_used": _pick(row, "budget_used"),
        "sample_rate": _pick(row, "sample_rate", default=judge.sample_rate if judge else None),
        "failed": _pick(row, "failed", "failed_count", default=0),
        "last_errors": list(_pick(row, "last_errors", "recent_errors", "failures", default=[])),
        "calls_today": _pick(row, "calls_today"),
        "tokens_today": _pick(row, "tokens_today"),
        "cost_today": _pick(row, "cost_today", "cost_today_usd"),
        "token_budget": _pick(row, "daily_token_budget", "token_budget"),
        "cost_budget": _pick(row, "daily_cost_budget_usd", "cost_budget"),
        "extra": {k: v for k, v in row.items() if k not in ("judge",)},
    }


def judges_health_rows(*, agent: Agent | None = None, full: bool = True) -> HealthRows:
    """Health of every judge; `full=False` keeps to the cheap numbers the overview needs.

    The full rows count every score per status, which grows with traffic; the overview only
    needs paused state and lag, which come from the Judge rows and the open-work index.
    """
    if not full:
        return HealthRows(rows=_basic_health(agent=agent), source="basic")
    try:
        from evaluations.selectors import judges_health
    except ImportError:
        return HealthRows(rows=_basic_health(agent=agent), source="basic")
    return HealthRows(rows=[_normalise(r) for r in judges_health(agent=agent)], source="pipeline")


def _basic_health(*, agent: Agent | None) -> list[dict]:
    """Paused state, queue and lag from the Judge rows and the open-work index of Score."""
    query = Judge.objects.select_related("agent").order_by("agent__slug", "name")
    if agent is not None:
        query = query.filter(agent=agent)
    judges = list(query)
    ids = [j.pk for j in judges]
    waiting: dict[int, dict[str, Any]] = {
        row["judge_id"]: dict(row)
        for row in Score.objects.filter(
            judge_id__in=ids, status__in=(Score.Status.PENDING, Score.Status.RUNNING)
        )
        .values("judge_id")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    }
    failed = dict(
        Score.objects.filter(judge_id__in=ids, status=Score.Status.FAILED)
        .values("judge_id")
        .annotate(count=Count("id"))
        .values_list("judge_id", "count")
    )
    now = timezone.now()
    rows = []
    for judge in judges:
        oldest: datetime | None = waiting.get(judge.pk, {}).get("oldest")
        rows.append(
            _normalise(
                {
                    "judge": judge,
                    "pending": waiting.get(judge.pk, {}).get("count", 0),
                    "failed": failed.get(judge.pk, 0),
                    "queue_lag_seconds": (now - oldest).total_seconds() if oldest else None,
                    "daily_token_budget": judge.daily_token_budget,
                    "daily_cost_budget_usd": judge.daily_cost_budget_usd,
                }
            )
        )
    return rows


def recent_events(*, limit: int = 10, agent: Agent | None = None) -> list[dict]:
    """The last events, newest first, as {at, type, agent, summary}."""
    try:
        from rollouts.event_selectors import events_recent
    except ImportError:
        return _rollout_events(limit=limit, agent=agent)
    return [_event_row(e) for e in events_recent(limit=limit, agent=agent)]


def _event_row(event: Any) -> dict:
    if isinstance(event, dict):
        payload = event.get("payload") or {}
        agent = event.get("agent")
        return {
            "at": event.get("created_at") or event.get("at"),
            "type": event.get("type", ""),
            "agent": getattr(agent, "slug", agent) or "",
            "summary": event.get("summary") or _payload_summary(payload),
        }
    agent = getattr(event, "agent", None)
    return {
        "at": getattr(event, "created_at", None),
        "type": getattr(event, "type", ""),
        "agent": getattr(agent, "slug", "") if agent else "",
        "summary": _payload_summary(getattr(event, "payload", {}) or {}),
    }


def _payload_summary(payload: dict) -> str:
    parts = []
    for key, value in list(payload.items())[:4]:
        if isinstance(value, dict | list):
            continue
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def _rollout_events(*, limit: int, agent: Agent | None) -> list[dict]:
    events = RolloutEvent.objects.select_related("rollout__agent").order_by("-created_at", "-id")
    if agent is not None:
        events = events.filter(rollout__agent=agent)
    return [
        {
            "at": e.created_at,
            "type": f"rollout.{e.action}",
            "agent": e.rollout.agent.slug,
            "summary": f"by {e.actor_name}" + (f": {e.reason}" if e.reason else ""),
        }
        for e in events[:limit]
    ]


def judge_resume_available() -> bool:
    try:
        from evaluations.services import judge_resume  # noqa: F401
    except ImportError:
        return False
    return True


def judge_resume_call(*, judge: Judge, user) -> bool:
    try:
        from evaluations.services import judge_resume
    except ImportError:
        return False
    judge_resume(judge=judge, user=user)
    return True
