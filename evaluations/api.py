"""Evaluations endpoints: judge health (GET /api/v1/judges)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from evaluations.selectors import judges_health
from shadow.auth import require_agent, require_scope
from shadow.schemas import ErrorOut

router = Router(tags=["evaluations"])


class JudgeHealthOut(Schema):
    judge_id: int
    name: str
    kind: str
    enabled: bool
    paused: bool
    paused_reason: str
    paused_until: datetime | None
    sample_rate: float
    pending: int
    running: int
    done: int
    failed: int
    oldest_pending_seconds: float | None
    calls_today: int
    tokens_today: int
    cost_today_usd: float
    daily_token_budget: int | None
    daily_cost_budget_usd: float | None
    budget_used: float | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    position_inconsistency_rate: float | None
    last_errors: list[str]


class JudgesOut(Schema):
    agent: str
    judges: list[JudgeHealthOut]


@router.get(
    "/judges",
    response={200: JudgesOut, 403: ErrorOut},
    summary="Judge health: paused and why, queue numbers and lag, spend today vs budget",
)
def get_judges(request: HttpRequest, agent: str | None = None):
    key = require_scope(request, "read")
    target = require_agent(key, agent) if agent else key.agent
    return {"agent": target.slug, "judges": judges_health(agent=target)}
