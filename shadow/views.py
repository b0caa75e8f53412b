"""Pages for browsing interactions: the filtered list, exports, and one interaction."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date

from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from evaluations.models import Judge
from rollouts.models import Agent, AgentVersion, Rollout
from rollouts.roles import role_required
from shadow import selectors
from shadow.models import Interaction, Response
from shadow.selectors import Cursor, InteractionFilters
from shadow.textdiff import similarity, word_diff


class HtmxHttpRequest(HttpRequest):
    """What django_htmx's middleware adds to every request (for type checking)."""

    htmx: HtmxDetails


CURSOR_PARAMS = ("after", "before")
MAX_QUERY_CHARS = 200
# Spreadsheet apps run cells starting with these as formulas; agent output must stay text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _int_param(params: QueryDict, name: str) -> int | None:
    value = params.get(name, "")
    return int(value) if value.isdigit() else None


def _date_param(params: QueryDict, name: str) -> date | None:
    try:
        return date.fromisoformat(params.get(name, ""))
    except ValueError:
        return None


def filters_from_query(params: QueryDict) -> InteractionFilters:
    """Filters from the URL; unknown or malformed values are ignored rather than failing."""
    agent = Agent.objects.filter(slug=params.get("agent", "")).first()
    version_id = _int_param(params, "version")
    version = None
    if version_id is not None:
        versions = AgentVersion.objects.filter(pk=version_id)
        version = (versions.filter(agent=agent) if agent else versions).first()
    judge_id = _int_param(params, "judge")
    judge = None
    if judge_id is not None:
        judges = Judge.objects.filter(pk=judge_id)
        judge = (judges.filter(agent=agent) if agent else judges).first()
    verdict = params.get("verdict", "")
    flagged = params.get("flagged", "")
    return InteractionFilters(
        agent=agent,
        version=version,
        slice=params.get("slice", "")[:100],
        judge=judge,
        verdict=verdict if verdict in selectors.VERDICTS else "",
        flagged=flagged if flagged in selectors.FLAGGED else "",
        since=_date_param(params, "since"),
        until=_date_param(params, "until"),
        q=params.get("q", "").strip()[:MAX_QUERY_CHARS],
    )


def _query_without_cursor(params: QueryDict) -> str:
    kept = params.copy()
    for name in CURSOR_PARAMS:
        kept.pop(name, None)
    for name in [key for key, value in kept.items() if value == ""]:
        kept.pop(name)
    return kept.urlencode()


@require_GET
@role_required("viewer")
@vary_on_headers("HX-Request")
def interaction_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = filters_from_query(request.GET)
    after = Cursor.decode(request.GET.get("after", ""))
    before = None if after else Cursor.decode(request.GET.get("before", ""))
    page = selectors.interactions_page(filters=filters, after=after, before=before)
    query = _query_without_cursor(request.GET)
    context = {
        "page": page,
        "filters": filters,
        "query": query,
        "choices": selectors.filter_choices(agent=filters.agent),
        "next_token": page.next_cursor.encode() if page.next_cursor else "",
        "previous_token": page.previous_cursor.encode() if page.previous_cursor else "",
        "has_any_agent": Agent.objects.exists(),
        "page_size": selectors.PAGE_SIZE,
    }
    template = "shadow/interactions.html"
    if request.htmx:
        template += "#results"
    return render(request, template, context)


def _csv_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = (
    "interaction_id",
    "external_id",
    "agent",
    "created_at",
    "input",
    "slices",
    "version",
    "served",
    "output",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "error",
)


def _csv_rows(filters: InteractionFilters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for interaction in selectors.interactions_export(filters=filters):
        base = (
            interaction.pk,
            interaction.external_id,
            interaction.agent.slug,
            interaction.created_at.isoformat(),
            interaction.input,
            " ".join(interaction.slices or []),
        )
        for response in interaction.responses.all():
            row = (
                *base,
                response.version.name,
                response.served,
                response.output,
                response.latency_ms,
                response.tokens_in,
                response.tokens_out,
                response.cost_usd,
                response.error,
            )
            yield writer.writerow([_csv_safe(v) for v in row])


def _response_record(response) -> dict:
    return {
        "version": response.version.name,
        "served": response.served,
        "output": response.output,
        "latency_ms": response.latency_ms,
        "tokens_in": response.tokens_in,
        "tokens_out": response.tokens_out,
        "cost_usd": float(response.cost_usd) if response.cost_usd is not None else None,
        "error": response.error or None,
    }


def _jsonl_rows(filters: InteractionFilters) -> Iterator[str]:
    for interaction in selectors.interactions_export(filters=filters):
        responses = list(interaction.responses.all())
        version_of = {r.pk: r.version.name for r in responses}
        record = {
            "id": interaction.external_id,
            "interaction_id": interaction.pk,
            "agent": interaction.agent.slug,
            "created_at": interaction.created_at.isoformat(),
            "input": interaction.input,
            "metadata": interaction.metadata,
            "slices": interaction.slices,
            "responses": [_response_record(r) for r in responses],
            "scores": [
                {
                    "judge": s.judge.name,
                    "response_version": version_of.get(s.response_id),
                    "status": s.status,
                    "value": s.value,
                    "verdict": s.verdict or None,
                    "label": s.label or None,
                }
                for s in interaction.scores.all()
            ],
            "flags": [
                {"rule": f.rule, "severity": f.severity, "status": f.status}
                for f in interaction.flags.all()
            ],
        }
        yield json.dumps(record, ensure_ascii=False) + "\n"


@require_GET
@role_required("viewer")
def interaction_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    """The filtered set as CSV (one row per response) or JSONL (one line per interaction)."""
    filters = filters_from_query(request.GET)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_rows(filters), content_type="text/csv")
    elif fmt == "jsonl":
        response = StreamingHttpResponse(_jsonl_rows(filters), content_type="application/x-ndjson")
    else:
        raise Http404("unknown export format")
    response["Content-Disposition"] = f'attachment; filename="interactions-{stamp}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _sides(interaction: Interaction) -> tuple[Response | None, Response | None, list[Response]]:
    """(production side, shadow side, every response) for the side-by-side view.

    The served answer is the production side; the other side is the rollout candidate's
    answer when there is one, else the first answer that was not served.
    """
    responses = list(interaction.responses.all())
    served = next((r for r in responses if r.served), None)
    rollout = Rollout.objects.filter(agent_id=interaction.agent_id).first()
    others = [r for r in responses if r is not served]
    preferred = None
    if rollout is not None:
        for wanted in (rollout.candidate_id, rollout.production_id):
            preferred = next((r for r in others if r.version_id == wanted), None)
            if preferred is not None:
                break
    shadow = preferred or (others[0] if others else None)
    if served is None and len(others) >= 2:
        served, shadow = others[0], others[1]
    return served, shadow, responses


@require_GET
@role_required("viewer")
def interaction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = selectors.interaction_detail(pk=pk)
    if interaction is None:
        raise Http404("no such interaction")
    production, shadow, responses = _sides(interaction)
    scores = list(interaction.scores.all())
    diff = None
    if production is not None and shadow is not None:
        diff = {
            "segments": word_diff(before=production.output, after=shadow.output),
            "similarity": similarity(before=production.output, after=shadow.output),
        }
    context = {
        "interaction": interaction,
        "production": production,
        "shadow": shadow,
        "responses": responses,
        "diff": diff,
        "pointwise_scores": [s for s in scores if s.other_response_id is None],
        "pairwise_scores": [s for s in scores if s.other_response_id is not None],
        "flags": list(interaction.flags.all()),
        "feedback": list(interaction.feedback.all()),
        "metadata_json": json.dumps(interaction.metadata or {}, indent=2, ensure_ascii=False),
    }
    return render(request, "shadow/interaction_detail.html", context)
