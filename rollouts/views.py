"""The rollout control page: state, gate evidence, A/B of served arms, timeline, actions.

Every action is a GET confirmation (a dialog via htmx, or a page without JavaScript) that
shows the gate and asks for a reason, then a POST that calls one service. Views stay thin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from rollouts import forms as rollout_forms
from rollouts import services
from rollouts.approvals import (
    rollout_approval_approve,
    rollout_approval_reject,
    rollout_approval_request,
)
from rollouts.gates import PASS, gate_evaluate
from rollouts.models import Agent, Rollout, RolloutApproval
from rollouts.page import change_preview, page_context
from rollouts.roles import OPERATOR, VIEWER, role_required
from rollouts.selectors import needs_approval, next_step, rollout_for_agent


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass(frozen=True)
class Action:
    title: str
    form: type[rollout_forms.RolloutChangeForm]
    run: Callable[..., Rollout]
    done: str
    # What a step that needs a second operator becomes: (approval action, percent getter).
    approval: Callable[[Rollout, dict], tuple[str, int | None]] | None = None
    danger: bool = False


def _percent(rollout: Rollout, data: dict) -> tuple[str, int | None]:
    return RolloutApproval.Action.SET_PERCENT, data["percent"]


def _advance_percent(rollout: Rollout, data: dict) -> tuple[str, int | None]:
    step = next_step(rollout=rollout)
    return RolloutApproval.Action.SET_PERCENT, step if isinstance(step, int) else None


def _promote(rollout: Rollout, data: dict) -> tuple[str, int | None]:
    return RolloutApproval.Action.PROMOTE, None


ACTIONS: dict[str, Action] = {
    "start_shadow": Action(
        "Start shadowing",
        rollout_forms.StartShadowForm,
        lambda **kw: services.rollout_start_shadow(
            **kw["base"],
            candidate=kw["data"]["candidate"],
            shadow_percent=kw["data"]["shadow_percent"],
        ),
        "Shadowing started: the candidate answers in shadow only.",
    ),
    "advance": Action(
        "Go to the next step",
        rollout_forms.RolloutChangeForm,
        lambda **kw: services.rollout_advance(**kw["base"]),
        "Moved to the next step.",
        approval=_advance_percent,
    ),
    "set_percent": Action(
        "Change the candidate's share of users",
        rollout_forms.PercentForm,
        lambda **kw: services.rollout_set_percent(**kw["base"], percent=kw["data"]["percent"]),
        "Routing updated.",
        approval=_percent,
    ),
    "set_shadow_percent": Action(
        "Change the shadow share",
        rollout_forms.PercentForm,
        lambda **kw: services.rollout_set_shadow_percent(
            **kw["base"], percent=kw["data"]["percent"]
        ),
        "Shadow share updated.",
    ),
    "pause": Action(
        "Pause the rollout",
        rollout_forms.RolloutChangeForm,
        lambda **kw: services.rollout_pause(**kw["base"]),
        "Paused: automation will not advance this rollout.",
    ),
    "resume": Action(
        "Resume the rollout",
        rollout_forms.RolloutChangeForm,
        lambda **kw: services.rollout_resume(**kw["base"]),
        "Resumed.",
    ),
    "promote": Action(
        "Promote the candidate to production",
        rollout_forms.PromoteForm,
        lambda **kw: services.rollout_promote(**kw["base"], override=kw["data"]["override"]),
        "Promoted: the candidate is now production. The old production is kept for rollback.",
        approval=_promote,
    ),
    "rollback": Action(
        "Roll back",
        rollout_forms.RollbackForm,
        lambda **kw: services.rollout_rollback(**kw["base"]),
        "Rolled back: every user is on production.",
        danger=True,
    ),
}


def _rollout_or_404(slug: str) -> Rollout:
    agent = get_object_or_404(Agent, slug=slug)
    rollout = rollout_for_agent(agent=agent)
    if rollout is None:
        raise Http404("this agent has no rollout yet")
    return rollout


def _action_or_404(name: str) -> Action:
    if name not in ACTIONS:
        raise Http404(f"unknown rollout action {name!r}")
    return ACTIONS[name]


@role_required(VIEWER)
@vary_on_headers("HX-Request")
def rollout_page(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    agent = get_object_or_404(Agent, slug=slug)
    rollout = rollout_for_agent(agent=agent)
    context = page_context(agent=agent, rollout=rollout, user=request.user)
    if request.htmx and request.GET.get("partial") in ("gate", "state"):
        return render(request, f"rollouts/agent.html#{request.GET['partial']}", context)
    return render(request, "rollouts/agent.html", context)


def _confirm_response(
    request: HtmxHttpRequest,
    *,
    rollout: Rollout,
    name: str,
    form: rollout_forms.RolloutChangeForm,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    action = ACTIONS[name]
    gate = gate_evaluate(rollout=rollout)
    params = form.data if form.is_bound else form.initial
    approval = action.approval(rollout, _preview_data(params)) if action.approval else None
    context = {
        "agent": rollout.agent,
        "rollout": rollout,
        "action": action,
        "action_name": name,
        "form": form,
        "gate": gate,
        "gate_passes": gate.status == PASS,
        "preview": change_preview(rollout=rollout, action=name, params=params),
        "needs_approval": bool(
            approval and needs_approval(rollout=rollout, action=approval[0], percent=approval[1])
        ),
        "error": error,
        "post_url": reverse("rollout_action", args=[rollout.agent.slug, name]),
        "page_url": reverse("rollout", args=[rollout.agent.slug]),
    }
    template = "rollouts/confirm.html"
    if request.htmx:
        template += "#confirm_panel"
    return render(request, template, context, status=status)


def _preview_data(params) -> dict:
    try:
        percent = int(params.get("percent"))
    except (TypeError, ValueError):
        percent = None
    return {"percent": percent}


@role_required(OPERATOR)
@vary_on_headers("HX-Request")
def rollout_confirm(request: HtmxHttpRequest, slug: str, name: str) -> HttpResponse:
    action = _action_or_404(name)
    rollout = _rollout_or_404(slug)
    initial = {
        k: request.GET[k] for k in ("percent", "candidate", "shadow_percent") if k in request.GET
    }
    form = action.form(rollout=rollout, initial=initial)
    return _confirm_response(request, rollout=rollout, name=name, form=form)


@require_POST
@role_required(OPERATOR)
def rollout_action(request: HtmxHttpRequest, slug: str, name: str) -> HttpResponse:
    action = _action_or_404(name)
    rollout = _rollout_or_404(slug)
    form = action.form(request.POST, rollout=rollout)
    if not form.is_valid():
        return _confirm_response(request, rollout=rollout, name=name, form=form, status=400)
    data = form.cleaned_data
    base = {
        "rollout": rollout,
        "user": request.user,
        "expected_revision": data["expected_revision"],
        "reason": data["reason"],
    }
    try:
        action.run(base=base, data=data)
    except services.ApprovalRequired:
        assert action.approval is not None  # only steps with an approval rule raise this
        approval_action, percent = action.approval(rollout, data)
        try:
            approval = rollout_approval_request(
                **base,
                action=approval_action,
                percent=percent,
                override=data.get("override", False),
            )
        except services.RolloutError as exc:
            return _refused(request, rollout=rollout, name=name, exc=exc)
        messages.info(
            request,
            f"Request #{approval.pk} is waiting for a second operator's approval.",
        )
        return redirect("rollout", slug=slug)
    except services.RolloutError as exc:
        return _refused(request, rollout=rollout, name=name, exc=exc)
    messages.success(request, action.done)
    return redirect("rollout", slug=slug)


def _refused(request, *, rollout: Rollout, name: str, exc: services.RolloutError):
    """Show the refusal next to the current state; after a conflict the form carries the new
    revision, so confirming again applies to what the operator now sees."""
    rollout.refresh_from_db()
    data = request.POST.copy()
    status = 400
    if isinstance(exc, services.RolloutConflict):
        data["expected_revision"] = str(rollout.revision)
        status = 409
    form = ACTIONS[name].form(data, rollout=rollout)
    form.is_valid()
    return _confirm_response(
        request, rollout=rollout, name=name, form=form, error=str(exc), status=status
    )


@require_POST
@role_required(OPERATOR)
def approval_decide(request: HttpRequest, slug: str, approval_id: int) -> HttpResponse:
    rollout = _rollout_or_404(slug)
    form = rollout_forms.ApprovalDecisionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("rollout", slug=slug)
    data = form.cleaned_data
    base = {
        "rollout": rollout,
        "user": request.user,
        "expected_revision": data["expected_revision"],
        "reason": data["reason"],
        "approval_id": approval_id,
    }
    try:
        if data["decision"] == "approve":
            rollout_approval_approve(**base, override=data["override"])
            messages.success(request, f"Request #{approval_id} approved and applied.")
        else:
            rollout_approval_reject(**base)
            messages.success(request, f"Request #{approval_id} rejected.")
    except services.RolloutError as exc:
        messages.error(request, str(exc))
    return redirect("rollout", slug=slug)
