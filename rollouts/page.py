"""What the rollout page shows, shaped for templates: steps, arms, timeline, change previews."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from evaluations.stats import Interval
from rollouts.gates import gate_evaluate
from rollouts.models import Agent, Rollout, RolloutEvent
from rollouts.roles import user_roles
from rollouts.selectors import (
    SHADOW_STEP,
    next_step,
    pending_approvals,
    plan_steps,
    rollout_timeline,
    served_arms,
)
from rollouts.services import rollback_target, version_name

ACTION_LABELS = {
    "start_shadow": "Started shadowing",
    "set_percent": "Changed the candidate's share",
    "advance": "Moved to the next step",
    "set_shadow_percent": "Changed the shadow share",
    "pause": "Paused",
    "resume": "Resumed",
    "promote": "Promoted",
    "rollback": "Rolled back",
    "approval_requested": "Asked for a second operator",
    "approval_rejected": "Rejected a request",
}
STATE_FIELDS = (
    ("production", "production", ""),
    ("candidate", "candidate", ""),
    ("candidate_percent", "candidate share", "%"),
    ("shadow_percent", "shadow share", "%"),
    ("state", "state", ""),
    ("paused", "paused", ""),
)


@dataclass(frozen=True)
class Step:
    label: str
    status: str  # done | current | todo
    url: str


def _confirm_url(rollout: Rollout, action: str, **params) -> str:
    url = reverse("rollout_confirm", args=[rollout.agent.slug, action])
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def _step_status(rollout: Rollout, step: str | int) -> str:
    if rollout.state == Rollout.State.PROMOTED and rollout.candidate_id is None:
        return "done"
    if step == SHADOW_STEP:
        if rollout.candidate_percent > 0:
            return "done"
        return "current" if rollout.shadow_percent > 0 and rollout.candidate_id else "todo"
    if rollout.candidate_id is None or int(step) > rollout.candidate_percent:
        return "todo"
    return "current" if int(step) == rollout.candidate_percent else "done"


def rollout_steps(*, rollout: Rollout) -> list[Step]:
    steps = []
    for step in plan_steps(rollout=rollout):
        if step == SHADOW_STEP:
            label, url = "Shadow", _confirm_url(rollout, "start_shadow")
        else:
            label, url = f"{step}%", _confirm_url(rollout, "set_percent", percent=step)
        steps.append(Step(label, _step_status(rollout, step), url))
    promoted = rollout.state == Rollout.State.PROMOTED and rollout.candidate_id is None
    steps.append(
        Step("Promote", "current" if promoted else "todo", _confirm_url(rollout, "promote"))
    )
    return steps


def _pct(interval: Interval) -> dict:
    def fmt(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}"

    return {
        "estimate": fmt(interval.estimate),
        "lower": fmt(interval.lower),
        "upper": fmt(interval.upper),
        "n": interval.n,
        "known": interval.estimate is not None,
    }


def arms_table(*, rollout: Rollout) -> dict:
    arms, since = served_arms(rollout=rollout)
    rows = []
    for arm in arms:
        totals = arm.totals
        rows.append(
            {
                "role": arm.role,
                "version": arm.version.name,
                "served": totals.served,
                "responses": totals.responses,
                "thumbs_up": _pct(totals.thumbs_up_rate),
                "errors": _pct(totals.error_rate),
                "p50": totals.latency_quantile(0.5),
                "p95": totals.latency_quantile(0.95),
                "cost_per_1k": totals.cost_per_1k,
            }
        )
    return {"rows": rows, "since": since}


def event_changes(event: RolloutEvent) -> list[str]:
    changes = []
    for key, label, unit in STATE_FIELDS:
        before, after = event.from_state.get(key), event.to_state.get(key)
        if before != after:
            changes.append(f"{label} {_show(before, unit)} → {_show(after, unit)}")
    return changes


def _show(value, unit: str) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value}{unit}"


def timeline(*, rollout: Rollout) -> list[dict]:
    return [
        {
            "event": event,
            "label": ACTION_LABELS.get(event.action, event.action),
            "changes": event_changes(event),
            "gate_status": (event.gate or {}).get("status"),
            "details": event.to_state.get("details") or {},
        }
        for event in rollout_timeline(rollout=rollout)
    ]


def page_context(*, agent: Agent, rollout: Rollout | None, user) -> dict:
    if rollout is None:
        return {"agent": agent, "rollout": None}
    approvals = [
        {
            "approval": approval,
            "own": approval.requested_by_id is not None and approval.requested_by_id == user.pk,
        }
        for approval in pending_approvals(rollout=rollout)
    ]
    step = next_step(rollout=rollout)
    return {
        "agent": agent,
        "rollout": rollout,
        "production_percent": 100 - rollout.candidate_percent,
        "steps": rollout_steps(rollout=rollout),
        "next_step": step,
        "next_step_label": (
            None if step is None else ("shadow" if step == SHADOW_STEP else f"{step}%")
        ),
        "gate": gate_evaluate(rollout=rollout),
        "arms": arms_table(rollout=rollout),
        "approvals": approvals,
        "timeline": timeline(rollout=rollout),
        "rollback_target": rollback_target(rollout),
        "can_operate": user_roles(user).can_operate,
        "confirm": {
            name: _confirm_url(rollout, name)
            for name in (
                "start_shadow",
                "advance",
                "set_percent",
                "set_shadow_percent",
                "pause",
                "resume",
                "promote",
                "rollback",
            )
        },  # fmt: skip
    }


def change_preview(*, rollout: Rollout, action: str, params) -> list[tuple[str, str, str]]:
    """(what, now, after) rows telling the operator what users will experience."""
    prod = version_name(rollout.production) or "none"
    cand = version_name(rollout.candidate) or "none"
    share = rollout.candidate_percent

    def percent_param() -> int | None:
        try:
            return int(params.get("percent"))
        except (TypeError, ValueError):
            return None

    if action in ("set_percent", "advance"):
        target = percent_param() if action == "set_percent" else next_step(rollout=rollout)
        if target == SHADOW_STEP:
            return [("Candidate share of users", f"{share}%", "0% (shadow only)")]
        if target is None:
            return []
        return [
            (f"Users on {cand} (candidate)", f"{share}%", f"{target}%"),
            (f"Users on {prod} (production)", f"{100 - share}%", f"{100 - int(target)}%"),
        ]
    if action == "set_shadow_percent":
        target = percent_param()
        return [("Also answered in shadow", f"{rollout.shadow_percent}%", f"{target}%")]
    if action == "start_shadow":
        chosen = params.get("candidate") or cand
        shadow_after = params.get("shadow_percent") or 100
        return [
            ("Candidate", cand, str(chosen)),
            ("Users on the candidate", f"{share}%", "0%"),
            ("Also answered in shadow", f"{rollout.shadow_percent}%", f"{shadow_after}%"),
        ]
    if action == "promote":
        kept = version_name(rollout.previous) or "none"
        return [
            ("Production", prod, cand),
            ("Candidate", cand, "none"),
            ("Kept for instant rollback", kept, prod),
        ]
    if action == "rollback":
        target = rollback_target(rollout)
        if target == "promotion":
            previous = version_name(rollout.previous) or "none"
            return [("Production", prod, previous), ("Candidate", cand, f"{prod} at 0%")]
        return [
            ("Users on the candidate", f"{share}%", "0%"),
            ("Also answered in shadow", f"{rollout.shadow_percent}%", "0%"),
        ]
    if action in ("pause", "resume"):
        before, after = ("held", "may advance") if action == "resume" else ("may advance", "held")
        return [("Automation", before, after)]
    return []
