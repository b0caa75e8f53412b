"""GET /api/v1/agents/{slug}/comparison: the numbers behind the compare page, as JSON."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router
from ninja.errors import HttpError

from evaluations.comparison import comparison_summary, comparison_window
from rollouts.models import AgentVersion, Rollout
from shadow.auth import require_agent, require_scope
from shadow.schemas import ErrorOut

router = Router(tags=["comparison"])


def _moment(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise HttpError(422, f"{field} must be an ISO 8601 date or datetime") from exc
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


@router.get(
    "/agents/{slug}/comparison",
    response={200: dict, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Per-judge means, paired differences, win rates, ops and slices, with CIs and n",
)
def get_comparison(
    request: HttpRequest,
    slug: str,
    a: str | None = None,
    b: str | None = None,
    since: str | None = None,
    until: str | None = None,
):
    """Version `a` (default: production) against `b` (default: the candidate).

    Differences are b − a and win rates are b's; the window defaults to the last 7 days.
    """
    key = require_scope(request, "read")
    agent = require_agent(key, slug)
    rollout = Rollout.objects.filter(agent=agent).first()
    version_a = _version(agent_id=agent.pk, name=a, default=rollout.production if rollout else None)
    version_b = _version(agent_id=agent.pk, name=b, default=rollout.candidate if rollout else None)
    if version_a is None or version_b is None:
        raise HttpError(404, "name two versions with ?a=&b= (this agent has no candidate yet)")
    if version_a == version_b:
        raise HttpError(422, "a and b must be different versions")
    start, end = comparison_window(since=_moment(since, "since"), until=_moment(until, "until"))
    if start >= end:
        raise HttpError(422, "since must be before until")
    return comparison_summary(
        agent=agent, version_a=version_a, version_b=version_b, since=start, until=end
    )


def _version(*, agent_id: int, name: str | None, default: AgentVersion | None):
    if not name:
        return default
    version = AgentVersion.objects.filter(agent_id=agent_id, name=name).first()
    if version is None:
        raise HttpError(404, f"this agent has no version named '{name}'")
    return version
