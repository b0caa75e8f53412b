"""Second-operator approvals: a big step becomes a request that another operator decides.

A request, an approval and a rejection are rollout changes like any other (revision
checked, audited, announced); approving applies the requested step as the approver.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from rollouts.gates import GateResult
from rollouts.models import Rollout, RolloutApproval
from rollouts.selectors import needs_approval
from rollouts.services import (
    RolloutChange,
    RolloutError,
    actor_name,
    check_candidate,
    check_percent,
    require_reason,
    rollout_change_apply,
    rollout_lock,
    rollout_promote,
    rollout_set_percent,
)


def rollout_approval_request(
    *,
    rollout: Rollout,
    user,
    expected_revision: int,
    reason: str,
    action: str,
    percent: int | None = None,
    override: bool = False,
) -> RolloutApproval:
    """File a step that needs a second operator; `user` None means rollout automation."""
    if action not in RolloutApproval.Action.values:
        raise RolloutError(f"Unknown action {action!r}.")
    if action == RolloutApproval.Action.SET_PERCENT:
        if percent is None:
            raise RolloutError("Say which percent the request is for.")
        check_percent(percent, what="Candidate percent")
    created: list[RolloutApproval] = []

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        check_candidate(r)
        if r.approvals.filter(status=RolloutApproval.Status.PENDING).exists():
            raise RolloutError("A request is already waiting for approval: decide on it first.")
        if not needs_approval(rollout=r, action=action, percent=percent):
            raise RolloutError("This step does not need a second operator: apply it directly.")
        approval = RolloutApproval.objects.create(
            rollout=r,
            action=action,
            percent=percent if action == RolloutApproval.Action.SET_PERCENT else None,
            override=override,
            reason=require_reason(reason),
            requested_by=user,
            requester_name=actor_name(user),
        )
        created.append(approval)
        return {"approval": approval.pk, "action": action, "percent": approval.percent}

    rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("approval_requested", mutate, cancels_approvals=False),
    )
    return created[0]


def _pending_approval(*, rollout: Rollout, approval_id: int) -> RolloutApproval:
    approval = (
        RolloutApproval.objects.select_for_update().filter(pk=approval_id, rollout=rollout).first()
    )
    if approval is None:
        raise RolloutError(f"There is no approval request #{approval_id} for this rollout.")
    if approval.status != RolloutApproval.Status.PENDING:
        raise RolloutError(f"Request #{approval.pk} is already {approval.status}.")
    return approval


def rollout_approval_approve(
    *,
    rollout: Rollout,
    user,
    expected_revision: int,
    reason: str,
    approval_id: int,
    override: bool = False,
) -> Rollout:
    """A second operator applies the requested step; the requester cannot approve their own."""
    reason = require_reason(reason)
    approver = actor_name(user)
    with transaction.atomic():
        # Rollout first, then the request: the same lock order as every other change.
        rollout_lock(rollout=rollout, expected_revision=expected_revision)
        approval = _pending_approval(rollout=rollout, approval_id=approval_id)
        if approval.requested_by_id is not None and approval.requested_by_id == getattr(
            user, "pk", None
        ):
            raise RolloutError("You cannot approve your own request: another operator must.")
        combined = (
            f"{approval.reason} (request #{approval.pk} by {approval.requester_name}, "
            f"approved by {approver}: {reason})"
        )
        if approval.action == RolloutApproval.Action.PROMOTE:
            rollout_promote(
                rollout=rollout,
                user=user,
                expected_revision=expected_revision,
                reason=combined,
                override=approval.override or override,
                approval=approval,
            )
        else:
            rollout_set_percent(
                rollout=rollout,
                user=user,
                expected_revision=expected_revision,
                reason=combined,
                percent=int(approval.percent or 0),
                approval=approval,
            )
        RolloutApproval.objects.filter(pk=approval.pk).update(
            status=RolloutApproval.Status.APPROVED,
            decided_by=user,
            decided_at=timezone.now(),
            decision_reason=reason,
        )
    return rollout


def rollout_approval_reject(
    *, rollout: Rollout, user, expected_revision: int, reason: str, approval_id: int
) -> Rollout:
    """Turn a request down (or withdraw one's own); routing stays as it is."""

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        approval = _pending_approval(rollout=r, approval_id=approval_id)
        own = approval.requested_by_id is not None and approval.requested_by_id == getattr(
            user, "pk", None
        )
        approval.status = RolloutApproval.Status.REJECTED
        approval.decided_by = user
        approval.decided_at = timezone.now()
        approval.decision_reason = reason
        approval.save()
        return {"approval": approval.pk, "withdrawn": own}

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("approval_rejected", mutate, cancels_approvals=False),
    )
