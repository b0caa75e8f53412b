"""Opt-in rollout automation, run by the beat task: advance on evidence, roll back on harm.

Automation acts as the "system" actor through the same services as operators, so it is
revision-checked and audited like any change: if an operator changed the rollout since
the tick read it, the tick's change is refused and the next tick looks again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from rollouts.approvals import rollout_approval_request
from rollouts.gates import PASS, gate_evaluate, gate_harm
from rollouts.models import Rollout, RolloutApproval
from rollouts.selectors import needs_approval, next_step
from rollouts.services import rollout_advance, rollout_rollback

logger = logging.getLogger(__name__)

ROLLED_BACK = "rolled_back"
ADVANCED = "advanced"
APPROVAL_REQUESTED = "approval_requested"
ADVANCING_STATES = (Rollout.State.SHADOWING, Rollout.State.RAMPING)


def _dwell_elapsed(rollout: Rollout, now: datetime) -> bool:
    if rollout.step_started_at is None:
        return True
    return now - rollout.step_started_at >= timedelta(seconds=rollout.dwell_seconds)


def rollout_automation_tick(*, rollout: Rollout, now: datetime | None = None) -> str | None:
    """One automation decision for one rollout; returns what it did, or None."""
    now = now or timezone.now()
    if rollout.candidate_id is None:
        return None
    gate = gate_evaluate(rollout=rollout, now=now)

    # Harm protects users, so it applies even while paused; shadow traffic harms no one.
    if rollout.auto_rollback and rollout.candidate_percent > 0:
        evidence = gate_harm(rollout=rollout, result=gate)
        if evidence:
            rollout_rollback(
                rollout=rollout,
                user=None,
                expected_revision=rollout.revision,
                reason="Automatic rollback, harm detected: " + "; ".join(evidence),
            )
            return ROLLED_BACK

    if not rollout.auto_advance or rollout.paused or rollout.state not in ADVANCING_STATES:
        return None
    # A sample-ratio mismatch means the numbers may be biased: hold for a human.
    if gate.status != PASS or gate.warnings or not _dwell_elapsed(rollout, now):
        return None
    step = next_step(rollout=rollout)
    if not isinstance(step, int):
        return None  # no further percent step: promotion stays a human decision
    dwell_note = (
        f"gate passed over {gate.sample_size} paired judgments after "
        f"{rollout.dwell_seconds // 60} min at this step"
    )
    if needs_approval(rollout=rollout, action=RolloutApproval.Action.SET_PERCENT, percent=step):
        if rollout.approvals.filter(status=RolloutApproval.Status.PENDING).exists():
            return None
        rollout_approval_request(
            rollout=rollout,
            user=None,
            expected_revision=rollout.revision,
            reason=f"Automatic: {dwell_note}; {step}% needs a second operator.",
            action=RolloutApproval.Action.SET_PERCENT,
            percent=step,
        )
        return APPROVAL_REQUESTED
    rollout_advance(
        rollout=rollout,
        user=None,
        expected_revision=rollout.revision,
        reason=f"Automatic advance to {step}%: {dwell_note}.",
    )
    return ADVANCED
