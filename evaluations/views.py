"""Dashboard pages: overview, compare, review queue, judges."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from evaluations import dashboard_data
from evaluations.charts import comparison_figures
from evaluations.comparison import agents_overview, comparison_summary, comparison_window
from evaluations.comparison_gate import gate_panel
from evaluations.models import Flag, Judge
from evaluations.review import (
    QueueFilters,
    judge_agreement,
    review_counts,
    review_queue,
    review_rules,
)
from evaluations.services import (
    REVIEW_DECISIONS,
    FlagNotReviewable,
    flag_review,
    flags_review_bulk,
)
from rollouts.models import Agent, AgentVersion, Rollout
from rollouts.roles import role_required, user_roles


class HtmxHttpRequest(HttpRequest):
    """What django_htmx's middleware adds to every request (for type checking)."""

    htmx: HtmxDetails


WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_WINDOW = "7d"
REVIEW_TABS = (Flag.Status.OPEN.value, Flag.Status.ESCALATED.value)


# --- overview --------------------------------------------------------------------------------


@require_GET
@role_required("viewer")
@vary_on_headers("HX-Request")
def overview(request: HtmxHttpRequest) -> HttpResponse:
    rows = agents_overview()
    health = dashboard_data.judges_health_rows(full=False)
    for row in rows:
        judges = [j for j in health.rows if j["agent_id"] == row["agent"].id]
        row["judges_paused"] = [j for j in judges if j["paused"]]
        row["judges_lagging"] = [j for j in judges if j["lagging"] and not j["paused"]]
        row["judges_total"] = len(judges)
    events = dashboard_data.recent_events(limit=10)
    context = {
        "rows": rows,
        "events": events,
        "health_source": health.source,
    }
    template = "evaluations/overview.html"
    if request.htmx:
        template += "#agents"
    return render(request, template, context)


# --- compare ---------------------------------------------------------------------------------


def _window_from_query(request: HttpRequest) -> tuple[datetime, datetime, str]:
    """A named window (24h, 7d, 30d), or "custom" with since/until dates (whole days)."""
    name = request.GET.get("window", DEFAULT_WINDOW)
    if name == "custom":
        since_day, until_day = _date(request.GET.get("since")), _date(request.GET.get("until"))
        tz = timezone.get_current_timezone()
        since = datetime.combine(since_day, time.min, tzinfo=tz) if since_day else None
        until = (
            datetime.combine(until_day + timedelta(days=1), time.min, tzinfo=tz)
            if until_day
            else None
        )
        since, until = comparison_window(since=since, until=until)
        if since >= until:
            since = until - timedelta(days=1)
        return since, until, name
    if name not in WINDOWS:
        name = DEFAULT_WINDOW
    _, until = comparison_window()
    return until - WINDOWS[name], until, name


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def _pick_versions(
    *, request: HttpRequest, rollout: Rollout | None, versions: list[AgentVersion]
) -> tuple[AgentVersion | None, AgentVersion | None]:
    by_name = {v.name: v for v in versions}
    a = by_name.get(request.GET.get("a", ""))
    b = by_name.get(request.GET.get("b", ""))
    if a is None:
        a = rollout.production if rollout and rollout.production else None
        a = a or (versions[0] if versions else None)
    if b is None:
        b = rollout.candidate if rollout and rollout.candidate else None
        b = b or next((v for v in reversed(versions) if v != a), None)
    return a, b


@require_GET
@role_required("viewer")
@vary_on_headers("HX-Request")
def compare(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    agent = get_object_or_404(Agent, slug=slug)
    rollout = Rollout.objects.select_related("production", "candidate").filter(agent=agent).first()
    versions = list(agent.versions.order_by("created_at"))
    version_a, version_b = _pick_versions(request=request, rollout=rollout, versions=versions)
    since, until, window = _window_from_query(request)
    margin = rollout.margin if rollout else 0.05
    context: dict = {
        "agent": agent,
        "rollout": rollout,
        "versions": versions,
        "version_a": version_a,
        "version_b": version_b,
        "since": since,
        "until": until,
        "window": window,
        "windows": list(WINDOWS),
        "since_day": since.date().isoformat() if window == "custom" else "",
        "until_day": (until - timedelta(seconds=1)).date().isoformat()
        if window == "custom"
        else "",
        "margin": margin,
        "summary": None,
    }
    if version_a is not None and version_b is not None and version_a != version_b:
        summary = comparison_summary(
            agent=agent, version_a=version_a, version_b=version_b, since=since, until=until
        )
        for entry in summary["pointwise"]:
            entry["chart_id"] = f"chart-dist-{entry['judge_id']}"
        context["summary"] = summary
        context["figures"] = comparison_figures(summary=summary, margin=margin)
        context["gate"] = gate_panel(agent=agent, summary=summary, rollout=rollout)
        context["has_scores"] = bool(summary["pointwise"] or summary["pairwise"])
        context["has_traffic"] = bool(
            summary["ops"]["a"]["responses"] or summary["ops"]["b"]["responses"]
        )
    template = "evaluations/compare.html"
    if request.htmx:
        template += "#body"
    return render(request, template, context)


# --- review ----------------------------------------------------------------------------------


def _queue_filters(request: HttpRequest) -> QueueFilters:
    severity = request.GET.get("severity", "")
    return QueueFilters(
        agent=Agent.objects.filter(slug=request.GET.get("agent", "")).first(),
        rule=request.GET.get("rule", "")[:48],
        severity=severity if severity in Flag.Severity.values else "",
    )


def _review_items(flags: list[Flag]) -> list[dict]:
    """Each flag with the flagged answer, the other version's answer, and the scores."""
    items = []
    for flag in flags:
        responses = list(flag.interaction.responses.all())
        flagged = flag.response
        other = next((r for r in responses if flagged is None or r.pk != flagged.pk), None)
        if flagged is None and responses:
            flagged, other = responses[0], (responses[1] if len(responses) > 1 else None)
        scores = [
            s
            for s in flag.interaction.scores.all()
            if flagged is not None and s.response_id == flagged.pk
        ]
        items.append({"flag": flag, "flagged": flagged, "other": other, "scores": scores})
    return items


@require_GET
@role_required("viewer")
@vary_on_headers("HX-Request")
def review(request: HtmxHttpRequest) -> HttpResponse:
    tab = request.GET.get("tab", Flag.Status.OPEN)
    if tab not in REVIEW_TABS:
        tab = Flag.Status.OPEN
    filters = _queue_filters(request)
    roles = user_roles(request.user)
    params = request.GET.copy()
    params.pop("tab", None)
    context = {
        "tab": tab,
        "filters": filters,
        "items": _review_items(review_queue(status=tab, filters=filters)),
        "counts": review_counts(filters=filters),
        "agents": list(Agent.objects.order_by("slug")),
        "rules": review_rules(agent=filters.agent),
        "severities": Flag.Severity.values[::-1],
        "filter_query": params.urlencode(),
        "can_decide": roles.can_operate if tab == Flag.Status.ESCALATED else roles.can_review,
        "next_url": request.get_full_path(),
    }
    template = "evaluations/review.html"
    if request.htmx:
        template += "#queue"
    return render(request, template, context)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("review")


def _may_decide(request: HttpRequest, flag: Flag) -> bool:
    roles = user_roles(request.user)
    return roles.can_operate if flag.status == Flag.Status.ESCALATED else roles.can_review


@require_POST
@role_required("reviewer")
def review_decide(request: HtmxHttpRequest, flag_id: int) -> HttpResponse:
    flag = get_object_or_404(Flag, pk=flag_id)
    if not _may_decide(request, flag):
        raise PermissionDenied("escalated flags are decided by an operator")
    decision = request.POST.get("decision", "")
    if decision not in REVIEW_DECISIONS:
        return HttpResponse("unknown decision", status=400)
    try:
        flag_review(
            flag=flag, user=request.user, decision=decision, note=request.POST.get("note", "")
        )
    except FlagNotReviewable as exc:
        if request.htmx:
            return HttpResponse(str(exc), status=409)
        messages.error(request, str(exc))
        return HttpResponseRedirect(_safe_next(request))
    if request.htmx:
        # An empty body swapped over the item removes it from the queue.
        return HttpResponse("")
    messages.success(request, f"Flag {flag.pk} {decision}.")
    return HttpResponseRedirect(_safe_next(request))


@require_POST
@role_required("reviewer")
def review_bulk(request: HttpRequest) -> HttpResponse:
    decision = request.POST.get("decision", "")
    if decision not in REVIEW_DECISIONS:
        return HttpResponse("unknown decision", status=400)
    ids = [int(v) for v in request.POST.getlist("flags") if v.isdigit()][:500]
    statuses = [Flag.Status.OPEN]
    if user_roles(request.user).can_operate:
        statuses.append(Flag.Status.ESCALATED)
    allowed = list(
        Flag.objects.filter(pk__in=ids, status__in=statuses).values_list("pk", flat=True)
    )
    done = flags_review_bulk(
        flag_ids=allowed, user=request.user, decision=decision, note=request.POST.get("note", "")
    )
    skipped = len(ids) - done
    text = f"{done} flag{'s' if done != 1 else ''} {decision}."
    if skipped:
        text += f" {skipped} skipped (already decided, or not yours to decide)."
    messages.success(request, text)
    return HttpResponseRedirect(_safe_next(request))


# --- judges ----------------------------------------------------------------------------------


@require_GET
@role_required("viewer")
def judges(request: HttpRequest) -> HttpResponse:
    health = dashboard_data.judges_health_rows()
    agreement = judge_agreement()
    for row in health.rows:
        row["agreement"] = agreement.get(row["judge_id"])
    context = {
        "rows": health.rows,
        "health_source": health.source,
        "resume_available": dashboard_data.judge_resume_available(),
    }
    return render(request, "evaluations/judges.html", context)


@require_POST
@role_required("operator")
def judge_resume_action(request: HttpRequest, judge_id: int) -> HttpResponse:
    judge = get_object_or_404(Judge, pk=judge_id)
    if dashboard_data.judge_resume_call(judge=judge, user=request.user):
        messages.success(request, f"Judge {judge} resumed.")
    else:
        messages.error(request, "Resuming judges is not available yet.")
    return HttpResponseRedirect(reverse("judges"))
