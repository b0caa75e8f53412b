"""Rollout automation on Celery beat (and on demand, e.g. right after a critical flag)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db.models import Q

from rollouts.automation import rollout_automation_tick
from rollouts.models import Rollout
from rollouts.services import RolloutError

logger = logging.getLogger(__name__)


@shared_task(name="rollouts.automation_tick_task", acks_late=True, ignore_result=True)
def automation_tick_task(agent_id: int | None = None) -> dict[str, str]:
    """Look at every rollout that opted in (or one agent's); one refused or failing rollout
    never stops the rest. Safe to run twice: changes are revision-checked."""
    outcomes: dict[str, str] = {}
    rollouts = Rollout.objects.filter(
        Q(auto_advance=True) | Q(auto_rollback=True), candidate__isnull=False
    ).select_related("agent", "production", "candidate")
    if agent_id is not None:
        rollouts = rollouts.filter(agent_id=agent_id)
    for rollout in rollouts:
        try:
            outcome = rollout_automation_tick(rollout=rollout)
        except RolloutError as exc:  # e.g. an operator changed it meanwhile: next tick decides
            logger.info("automation skipped %s: %s", rollout.agent.slug, exc)
            continue
        except Exception:
            logger.exception("automation failed for %s", rollout.agent.slug)
            continue
        if outcome:
            outcomes[rollout.agent.slug] = outcome
            logger.info("automation %s: %s", rollout.agent.slug, outcome)
    return outcomes


# The event bus's critical-flag handler (rollouts/event_handlers.py) looks for this name to
# run the harm check at once instead of at the next beat.
automation_check_task = automation_tick_task
