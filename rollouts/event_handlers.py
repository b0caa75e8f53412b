"""Internal subscribers: Python code that reacts to events through the same ordered, retried
relay as webhooks. Each handler must be idempotent: a retry may run it twice."""

from __future__ import annotations

import inspect
import logging

from rollouts.events import RESPONSE_FLAGGED, VERSION_PROMOTED, internal_handler, stream_of
from rollouts.models import AgentVersion, Event, Rollout

logger = logging.getLogger(__name__)


@internal_handler(name="judging-after-promotion", types=(VERSION_PROMOTED,))
def judging_after_promotion(*, event: Event) -> None:
    """After a promotion, make sure judges are ready for whatever version comes next."""
    rollout = Rollout.objects.filter(stream_of(event.agent_id)).select_related("agent").first()
    if rollout is None:
        logger.info(
            "version.promoted for agent %s without a rollout: nothing to do", event.agent_id
        )
        return
    next_candidate = rollout.candidate_id or (
        AgentVersion.objects.filter(agent_id=rollout.agent_id)
        .exclude(pk__in=[rollout.production_id, rollout.previous_id])
        .filter(created_at__gt=event.created_at)
        .values_list("pk", flat=True)
        .first()
    )
    if next_candidate is None:
        logger.info(
            "%s: promoted, no next candidate yet; judging starts when one shadows",
            rollout.agent.slug,
        )
        return
    try:
        from evaluations.judges.defaults import judges_ensure_defaults
    except ImportError:
        logger.info("%s: judges module not installed; nothing to start", rollout.agent.slug)
        return
    judges = judges_ensure_defaults(agent=rollout.agent)
    logger.info("%s: %d judges ready for the next candidate", rollout.agent.slug, len(judges))


def _automation_check_kwargs(task, *, event: Event) -> dict:
    """The rollout automation task may check one rollout or all of them; pass what it takes."""
    params = inspect.signature(task.run).parameters
    if "agent_id" in params:
        return {"agent_id": event.agent_id}
    if "rollout_id" in params:
        rollout_id = Rollout.objects.filter(stream_of(event.agent_id)).values_list("pk", flat=True)
        return {"rollout_id": rollout_id.first()}
    return {}


@internal_handler(name="rollback-check-on-critical-flag", types=(RESPONSE_FLAGGED,))
def rollback_check_on_critical_flag(*, event: Event) -> None:
    """A critical flag is harm: run the rollout automation's auto-rollback check right away
    instead of waiting for its next beat."""
    if event.payload.get("severity") != "critical" or event.agent_id is None:
        return
    try:
        from rollouts.tasks import automation_check_task
    except ImportError:
        logger.info("critical flag on agent %s; rollout automation not installed", event.agent_id)
        return
    from config.celery_app import task_send_safely

    task_send_safely(
        automation_check_task, kwargs=_automation_check_kwargs(automation_check_task, event=event)
    )
