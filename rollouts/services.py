"""Every rollout change: validated, revision-checked, audited and announced in one transaction.

Each public function takes the revision the caller saw (`expected_revision`). The row is
locked, the revision compared, and a stale one refused with RolloutConflict, so two
operators clicking at once never lose an update. A change bumps the revision (the routing
ETag), writes a RolloutEvent with the gate snapshot, and publishes on the event bus, all
in the same transaction. A refused change writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from rollouts.gates import PASS, GateResult, gate_evaluate
from rollouts.models import AgentVersion, Rollout, RolloutApproval, RolloutEvent
from rollouts.selectors import needs_approval, next_step

SYSTEM_ACTOR = "system"


class RolloutError(Exception):
    """A change that cannot be made as asked; the message is shown to the operator."""


class RolloutConflict(RolloutError):
    """The rollout changed since the caller looked at it."""

    def __init__(self, *, expected: int, current: int) -> None:
        super().__init__(
            f"This rollout changed since you loaded it (you saw revision {expected}, it is now "
            f"at revision {current}). Nothing was changed: review the new state and try again."
        )
        self.expected = expected
        self.current = current


class ApprovalRequired(RolloutError):
    """The step needs a second operator: file it with rollout_approval_request."""


class GateNotPassed(RolloutError):
    def __init__(self, gate: GateResult) -> None:
        super().__init__(
            f"The gate is {gate.status}: promoting anyway needs the explicit override."
        )
        self.gate = gate


@dataclass(frozen=True)
class RolloutChange:
    action: str
    # Changes the locked row given the gate before the change; may return details that
    # the audit row keeps next to the new state (e.g. which approval request).
    mutate: Callable[[Rollout, GateResult], dict | None]
    events: tuple[str, ...] = ("rollout.changed",)
    override: bool = False
    # Changes to routing void pending approvals: they were asked against the old state.
    cancels_approvals: bool = True


def version_name(version: AgentVersion | None) -> str | None:
    return version.name if version is not None else None


def _snapshot(rollout: Rollout) -> dict:
    return {
        "production": version_name(rollout.production),
        "candidate": version_name(rollout.candidate),
        "previous": version_name(rollout.previous),
        "candidate_percent": rollout.candidate_percent,
        "shadow_percent": rollout.shadow_percent,
        "state": rollout.state,
        "paused": rollout.paused,
        "revision": rollout.revision,
    }


def actor_name(user) -> str:
    return user.get_username() if user is not None else SYSTEM_ACTOR


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RolloutError("Give a reason: it goes into the audit trail.")
    return reason


def rollout_lock(*, rollout: Rollout, expected_revision: int) -> Rollout:
    locked = (
        Rollout.objects.select_for_update(of=("self",))
        .select_related("agent", "production", "candidate", "previous")
        .get(pk=rollout.pk)
    )
    if locked.revision != expected_revision:
        raise RolloutConflict(expected=expected_revision, current=locked.revision)
    return locked


def _publish(*, rollout: Rollout, types: tuple[str, ...], payload: dict) -> None:
    try:
        from rollouts.events import event_publish
    except ImportError:  # the event bus is optional: the audit row is the source of truth
        return
    for event_type in types:
        event_publish(type=event_type, agent=rollout.agent, payload=payload)


def rollout_change_apply(
    *, rollout: Rollout, user, expected_revision: int, reason: str, change: RolloutChange
) -> Rollout:
    """Lock, check, mutate, audit, publish; the caller's instance is refreshed afterwards."""
    reason = require_reason(reason)
    now = timezone.now()
    with transaction.atomic():
        locked = rollout_lock(rollout=rollout, expected_revision=expected_revision)
        gate = gate_evaluate(rollout=locked, now=now)
        before = _snapshot(locked)
        routing_before = (locked.candidate_id, locked.candidate_percent, locked.shadow_percent)
        details = change.mutate(locked, gate)
        if (locked.candidate_id, locked.candidate_percent, locked.shadow_percent) != routing_before:
            locked.step_started_at = now
        locked.revision += 1
        locked.save()
        if change.cancels_approvals:
            locked.approvals.filter(status=RolloutApproval.Status.PENDING).update(
                status=RolloutApproval.Status.CANCELLED,
                decided_at=now,
                decision_reason=f"cancelled by {change.action} at revision {locked.revision}",
            )
        after = _snapshot(locked)
        if details:
            after["details"] = details
        event = RolloutEvent.objects.create(
            rollout=locked,
            actor=user,
            actor_name=actor_name(user),
            action=change.action,
            from_state=before,
            to_state=after,
            reason=reason,
            gate=gate.as_dict(),
            override=change.override and gate.status != PASS,
        )
        _publish(
            rollout=locked,
            types=change.events,
            payload={
                "action": change.action,
                "actor": event.actor_name,
                "reason": reason,
                "from": before,
                "to": after,
                "routing": locked.routing_dict(),
                "gate_status": gate.status,
                "event_id": event.pk,
            },
        )
    rollout.refresh_from_db()
    return rollout


# --- validation shared by the changes -------------------------------------------------------


def check_percent(percent: int, *, what: str) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise RolloutError(f"{what} must be a whole number from 0 to 100, got {percent!r}.")
    return percent


def check_candidate(rollout: Rollout) -> int:
    """The candidate's id, once sure there is a production and a candidate to compare."""
    if rollout.production_id is None:
        raise RolloutError("This agent has no production version yet.")
    if rollout.candidate_id is None:
        raise RolloutError("There is no candidate version: choose one and start shadowing first.")
    return rollout.candidate_id


def _check_approval(rollout: Rollout, *, action: str, percent: int | None, approval) -> None:
    if approval is None and needs_approval(rollout=rollout, action=action, percent=percent):
        raise ApprovalRequired(
            f"Steps at or above {rollout.approval_required_from_percent}% need a second "
            "operator's approval."
        )


def _check_candidate_id_valid(rollout: Rollout, candidate_id: int) -> None:
    if rollout.production_id is None:
        raise RolloutError("This agent has no production version yet.")
    if candidate_id == rollout.production_id:
        raise RolloutError("The candidate must differ from production.")


def _approval_details(approval: RolloutApproval | None) -> dict | None:
    if approval is None:
        return None
    return {"approval": approval.pk, "requested_by": approval.requester_name}


def _set_candidate_percent(rollout: Rollout, percent: int) -> None:
    rollout.candidate_percent = percent
    if percent > 0:
        rollout.state = Rollout.State.RAMPING
    elif rollout.shadow_percent > 0:
        rollout.state = Rollout.State.SHADOWING
    else:
        rollout.state = Rollout.State.IDLE


def _start_shadow(rollout: Rollout, *, candidate_id: int, shadow_percent: int) -> None:
    rollout.candidate_id = candidate_id
    rollout.candidate_percent = 0
    rollout.shadow_percent = shadow_percent
    rollout.state = Rollout.State.SHADOWING


# --- public changes --------------------------------------------------------------------------


def rollout_start_shadow(
    *,
    rollout: Rollout,
    user,
    expected_revision: int,
    reason: str,
    candidate: AgentVersion | None = None,
    shadow_percent: int = 100,
) -> Rollout:
    """Candidate answers in shadow only (logged, never shown); users all get production."""
    check_percent(shadow_percent, what="Shadow percent")
    if shadow_percent == 0:
        raise RolloutError("Shadowing needs a shadow percent above 0.")
    if candidate is not None:
        if candidate.agent_id != rollout.agent_id:
            raise RolloutError(f"Version {candidate.name!r} does not belong to this agent.")
        if candidate.pk == rollout.production_id:
            raise RolloutError(f"{candidate.name} is already production; pick another version.")
        candidate_id: int = candidate.pk
    elif rollout.candidate_id is None:
        raise RolloutError("Choose a candidate version to shadow.")
    else:
        candidate_id = rollout.candidate_id

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        _check_candidate_id_valid(r, candidate_id)
        if (r.candidate_id, r.candidate_percent, r.shadow_percent) == (
            candidate_id,
            0,
            shadow_percent,
        ):
            raise RolloutError(
                f"Already shadowing {version_name(r.candidate)} at {shadow_percent}%."
            )
        _start_shadow(r, candidate_id=candidate_id, shadow_percent=shadow_percent)
        return None

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("start_shadow", mutate),
    )


def rollout_set_percent(
    *,
    rollout: Rollout,
    user,
    expected_revision: int,
    reason: str,
    percent: int,
    approval: RolloutApproval | None = None,
) -> Rollout:
    """Serve the candidate to `percent`% of users (their buckets 1..percent)."""
    check_percent(percent, what="Candidate percent")

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        check_candidate(r)
        if r.candidate_percent == percent:
            raise RolloutError(f"The candidate already serves {percent}% of users.")
        _check_approval(
            r, action=RolloutApproval.Action.SET_PERCENT, percent=percent, approval=approval
        )
        _set_candidate_percent(r, percent)
        return _approval_details(approval)

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("set_percent", mutate),
    )


def rollout_set_shadow_percent(
    *, rollout: Rollout, user, expected_revision: int, reason: str, percent: int
) -> Rollout:
    """Share of users whose request the other version also answers, logged only."""
    check_percent(percent, what="Shadow percent")

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        check_candidate(r)
        if r.shadow_percent == percent:
            raise RolloutError(f"Shadow is already at {percent}%.")
        r.shadow_percent = percent
        if r.candidate_percent == 0:
            r.state = Rollout.State.SHADOWING if percent > 0 else Rollout.State.IDLE
        return None

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("set_shadow_percent", mutate),
    )


def rollout_advance(
    *,
    rollout: Rollout,
    user,
    expected_revision: int,
    reason: str,
    approval: RolloutApproval | None = None,
) -> Rollout:
    """Move to the next step of the plan (never past the last one: that is a promotion)."""

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        candidate_id = check_candidate(r)
        step = next_step(rollout=r)
        if step is None:
            raise RolloutError("This is the last step of the plan: promote or roll back.")
        if not isinstance(step, int):  # the shadow step
            _start_shadow(r, candidate_id=candidate_id, shadow_percent=r.shadow_percent or 100)
            return None
        _check_approval(
            r, action=RolloutApproval.Action.SET_PERCENT, percent=step, approval=approval
        )
        _set_candidate_percent(r, step)
        return _approval_details(approval)

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("advance", mutate),
    )


def rollout_pause(*, rollout: Rollout, user, expected_revision: int, reason: str) -> Rollout:
    """Hold the rollout where it is: automation stops advancing it (routing is unchanged)."""

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        if r.paused:
            raise RolloutError("The rollout is already paused.")
        r.paused = True
        return None

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("pause", mutate, cancels_approvals=False),
    )


def rollout_resume(*, rollout: Rollout, user, expected_revision: int, reason: str) -> Rollout:
    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        if not r.paused:
            raise RolloutError("The rollout is not paused.")
        r.paused = False
        return None

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("resume", mutate, cancels_approvals=False),
    )


def rollout_promote(
    *,
    rollout: Rollout,
    user,
    expected_revision: int,
    reason: str,
    override: bool = False,
    approval: RolloutApproval | None = None,
) -> Rollout:
    """Candidate becomes production; the old production is kept as `previous` for rollback."""

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        if r.candidate_id is None:
            raise RolloutError("There is no candidate to promote.")
        check_candidate(r)
        if gate.status != PASS and not override:
            raise GateNotPassed(gate)
        _check_approval(r, action=RolloutApproval.Action.PROMOTE, percent=None, approval=approval)
        r.previous_id, r.production_id = r.production_id, r.candidate_id
        r.candidate_id = None
        r.candidate_percent = 0
        r.shadow_percent = 0
        r.state = Rollout.State.PROMOTED
        r.paused = False
        return _approval_details(approval)

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange(
            "promote", mutate, events=("rollout.changed", "version.promoted"), override=override
        ),
    )


def rollback_target(rollout: Rollout) -> str | None:
    """What a rollback would do now: "candidate", "promotion", or None (nothing to undo)."""
    if rollout.candidate_id is not None and (rollout.candidate_percent or rollout.shadow_percent):
        return "candidate"
    if rollout.state == Rollout.State.PROMOTED and rollout.previous_id is not None:
        return "promotion"
    return None


def rollout_rollback(*, rollout: Rollout, user, expected_revision: int, reason: str) -> Rollout:
    """Every user back on production at once; right after a promotion, back to the previous
    production (the demoted version stays as the candidate at 0%, ready to shadow again)."""

    def mutate(r: Rollout, gate: GateResult) -> dict | None:
        target = rollback_target(r)
        if target is None:
            raise RolloutError("Nothing to roll back: no candidate serves or shadows traffic.")
        if target == "promotion":
            r.production_id, r.candidate_id = r.previous_id, r.production_id
            r.previous_id = None
        r.candidate_percent = 0
        r.shadow_percent = 0
        r.state = Rollout.State.ROLLED_BACK
        return None

    return rollout_change_apply(
        rollout=rollout,
        user=user,
        expected_revision=expected_revision,
        reason=reason,
        change=RolloutChange("rollback", mutate, events=("rollout.changed", "rollout.rolled_back")),
    )
