"""Datasets pages: list and upload, one dataset with its runs, one run with live progress.

Viewers read everything; POSTs need the operator role (403 otherwise). The upload checks the
declared size before anything reads the body, so a 100 MB file is refused at once instead of
being streamed to disk first.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from evaluations.datasets import selectors, services
from evaluations.datasets.connectors import connector_describe
from evaluations.datasets.forms import DatasetUploadForm, GateSettingsForm, RunForm
from evaluations.datasets.importers import MAX_FILE_BYTES, DatasetImportError
from evaluations.models import Dataset, DatasetRun, Judge
from rollouts.roles import OPERATOR, VIEWER, role_required, user_roles


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# Room for the multipart envelope and the other form fields around the file.
_UPLOAD_OVERHEAD = 64 * 1024


class _TooLarge(FileUploadHandler):
    """Stops a body without a (truthful) Content-Length once it passes the limit."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > MAX_FILE_BYTES:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _too_large_message() -> str:
    return (
        f"The file is larger than the {MAX_FILE_BYTES // 1024 // 1024} MB limit and was not "
        "read. Split it into several datasets."
    )


def _index_context(request: HttpRequest, form: DatasetUploadForm) -> dict[str, Any]:
    return {
        "rows": selectors.datasets_list(),
        "form": form,
        "max_mb": MAX_FILE_BYTES // 1024 // 1024,
        "max_bytes": MAX_FILE_BYTES,
    }


@csrf_exempt  # checked by csrf_protect below, once the size is known to be acceptable
@role_required(VIEWER)
def datasets_index(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(
            request, "evaluations/datasets.html", _index_context(request, DatasetUploadForm())
        )
    if not user_roles(request.user).can_operate:
        raise PermissionDenied("importing datasets needs the operator role")
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > MAX_FILE_BYTES + _UPLOAD_OVERHEAD:
        response = render(
            request,
            "evaluations/datasets.html",
            {**_index_context(request, DatasetUploadForm()), "upload_error": _too_large_message()},
            status=413,
        )
        # The body was never read; the connection cannot be reused for another request.
        response["Connection"] = "close"
        return response
    limiter = _TooLarge(request)
    request.upload_handlers.insert(0, limiter)
    return csrf_protect(_dataset_upload)(request, limiter)


def _dataset_upload(request: HttpRequest, limiter: _TooLarge) -> HttpResponse:
    form = DatasetUploadForm(request.POST, request.FILES)
    error, errors = "", []
    if limiter.exceeded:
        error = _too_large_message()
    elif form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            dataset = services.dataset_import(
                data=upload.read(),
                filename=upload.name,
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                mapping=form.mapping(),
                agent=form.cleaned_data["agent"],
                required_for_gate=form.cleaned_data["required_for_gate"] or None,
                pass_threshold=form.cleaned_data["pass_threshold"],
                created_by=request.user,
                file_format=form.cleaned_data["file_format"] or None,
                default_category=form.cleaned_data["default_category"],
                default_behaviour=form.cleaned_data["default_behaviour"],
            )
        except DatasetImportError as exc:
            error, errors = exc.detail, exc.messages()
        else:
            count = dataset.items.count()
            messages.success(request, f"Imported {count} items as {dataset}.")
            return redirect("datasets:detail", pk=dataset.pk)
    context = {**_index_context(request, form), "upload_error": error, "upload_errors": errors}
    return render(request, "evaluations/datasets.html", context, status=400)


def _default_connector(dataset: Dataset) -> str:
    try:
        from shadow.demo import agents
    except ImportError:
        return "openai"
    slug = dataset.agent.slug if dataset.agent else ""
    known = getattr(agents, "DEMO_AGENTS", None)
    return "demo" if known is None or slug in known else "openai"


def _run_form(dataset: Dataset, data: Any = None) -> RunForm:
    versions = selectors.run_versions_for(dataset=dataset)
    baselines = DatasetRun.objects.filter(
        dataset__name=dataset.name, status=DatasetRun.Status.FINISHED
    ).select_related("version", "dataset")
    rubric_judges = Judge.objects.filter(kind="llm_rubric")
    if dataset.agent_id is not None:
        rubric_judges = rubric_judges.filter(agent_id=dataset.agent_id)
    form = RunForm(
        data,
        versions=versions,
        baselines=baselines,
        rubric_judges=rubric_judges.select_related("agent"),
        default_connector=_default_connector(dataset),
    )
    rollout = getattr(dataset.agent, "rollout", None) if dataset.agent else None
    if rollout is not None and rollout.candidate_id and data is None:
        form.fields["version"].initial = rollout.candidate_id
    return form


def _detail_context(dataset: Dataset, run_form: RunForm) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "versions": selectors.dataset_versions(dataset=dataset),
        "items": selectors.dataset_items(dataset=dataset),
        "item_count": dataset.items.count(),
        "categories": selectors.dataset_category_counts(dataset=dataset),
        "runs": selectors.dataset_runs(dataset=dataset)[:50],
        "run_form": run_form,
        "gate_form": GateSettingsForm(
            initial={
                "required_for_gate": dataset.required_for_gate,
                "pass_threshold": dataset.pass_threshold,
            }
        ),
    }


@role_required(VIEWER)
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset.objects.select_related("agent"), pk=pk)
    context = _detail_context(dataset, _run_form(dataset))
    return render(request, "evaluations/datasets_detail.html", context)


@require_POST
@role_required(OPERATOR)
def dataset_run_create(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset.objects.select_related("agent"), pk=pk)
    form = _run_form(dataset, request.POST)
    if form.is_valid():
        try:
            run = services.run_create(
                dataset=dataset,
                version=form.cleaned_data["version"],
                connector=form.connector_config(),
                created_by=request.user,
                baseline=form.cleaned_data["baseline"],
            )
        except services.DatasetRunError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Run {run.id} queued.")
            return redirect("datasets:run", pk=run.pk)
    context = _detail_context(dataset, form)
    return render(request, "evaluations/datasets_detail.html", context, status=400)


@require_POST
@role_required(OPERATOR)
def dataset_gate_settings(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset, pk=pk)
    form = GateSettingsForm(request.POST)
    if form.is_valid():
        services.dataset_gate_settings_update(
            dataset=dataset,
            required_for_gate=form.cleaned_data["required_for_gate"],
            pass_threshold=form.cleaned_data["pass_threshold"],
        )
        messages.success(request, f"Gate settings of {dataset.name} saved.")
    else:
        messages.error(request, "The pass threshold must be a number between 0 and 1.")
    return redirect("datasets:detail", pk=dataset.pk)


def _baseline_from(request: HttpRequest, run: DatasetRun) -> DatasetRun | None:
    raw = request.GET.get("baseline", "")
    if raw.isdigit():
        return selectors.baseline_choices(run=run).filter(pk=int(raw)).first()
    return run.baseline


@vary_on_headers("HX-Request")
@role_required(VIEWER)
def run_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(
        DatasetRun.objects.select_related("dataset", "version__agent", "baseline__version"), pk=pk
    )
    baseline = _baseline_from(request, run)
    context = {
        "run": run,
        "connector": connector_describe(config=run.connector),
        "report": selectors.run_report(run=run, baseline=baseline),
        "baseline": baseline,
        "baselines": selectors.baseline_choices(run=run)[:50],
        "failures": selectors.run_results(run=run, failed_only=True, limit=200),
    }
    template = "evaluations/datasets_run.html"
    if request.htmx:
        template += "#run-live"
    return render(request, template, context)


@require_POST
@role_required(OPERATOR)
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(DatasetRun, pk=pk)
    if services.run_cancel(run=run, user=request.user):
        messages.success(request, f"Run {run.id} cancelled; resume continues where it stopped.")
    else:
        messages.error(request, f"Run {run.id} is {run.status} and cannot be cancelled.")
    return redirect("datasets:run", pk=run.pk)


@require_POST
@role_required(OPERATOR)
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(DatasetRun, pk=pk)
    if services.run_resume(run=run, user=request.user):
        messages.success(request, f"Run {run.id} resumed from item {run.done + 1}.")
    else:
        messages.error(request, f"Run {run.id} is {run.status} and cannot be resumed.")
    return redirect("datasets:run", pk=run.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


@role_required(VIEWER)
def run_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    run = get_object_or_404(DatasetRun.objects.select_related("dataset", "version"), pk=pk)
    writer = csv.writer(_Echo())
    rows = selectors.run_csv_rows(run=run, baseline=_baseline_from(request, run))
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    filename = f"{run.dataset.name}-v{run.dataset.version}-{run.version.name}-run{run.id}.csv"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response
