"""Writes for datasets: import a file as a new version, start, cancel and resume runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from evaluations.datasets.connectors import ConnectorConfigError, connector_config_clean
from evaluations.datasets.importers import DatasetImportError, items_parse
from evaluations.datasets.scoring import MATCH_MODES
from evaluations.models import Dataset, DatasetItem, DatasetRun, Judge
from rollouts.models import Agent, AgentVersion

Status = DatasetRun.Status
QUEUED_STALE_AFTER = timedelta(minutes=2)
RUNNING_STALE_AFTER = timedelta(minutes=15)
_IMPORT_ATTEMPTS = 3


class DatasetRunError(ValueError):
    """A run could not be started, cancelled or resumed; the message says why."""


def dataset_import(
    *,
    data: bytes,
    filename: str,
    name: str,
    kind: str,
    mapping: dict[str, str] | None = None,
    agent: Agent | None = None,
    required_for_gate: bool | None = None,
    pass_threshold: float | None = None,
    created_by: Any = None,
    file_format: str | None = None,
    default_category: str = "",
    default_behaviour: str = "",
    description: str = "",
) -> Dataset:
    """Import a whole file as the next version of ``name``, or raise DatasetImportError.

    A new version inherits the agent and gate settings of the previous one unless given.
    """
    name = name.strip()
    if not name:
        raise DatasetImportError("give the dataset a name")
    if len(name) > 100:
        raise DatasetImportError("the dataset name is longer than 100 characters")
    if kind not in Dataset.Kind.values:
        raise DatasetImportError("kind must be golden or redteam")
    if pass_threshold is not None and not 0 <= pass_threshold <= 1:
        raise DatasetImportError("the pass threshold must be between 0 and 1")
    items = items_parse(
        data=data,
        filename=filename,
        kind=kind,
        mapping=mapping,
        file_format=file_format,
        default_category=default_category,
        default_behaviour=default_behaviour,
    )
    # Two imports of one name at once race for the same version number; the loser retries.
    for attempt in range(_IMPORT_ATTEMPTS):
        try:
            with transaction.atomic():
                previous = (
                    Dataset.objects.select_for_update().filter(name=name).order_by("-version")
                ).first()
                if previous is not None and previous.kind != kind:
                    raise DatasetImportError(
                        f"{name!r} is a {previous.get_kind_display().lower()} set; import "
                        f"{Dataset.Kind(kind).label.lower()} items under another name"
                    )
                dataset = Dataset.objects.create(
                    name=name,
                    kind=kind,
                    version=(previous.version + 1) if previous else 1,
                    agent=agent or (previous.agent if previous else None),
                    description=description or (previous.description if previous else ""),
                    source_filename=filename[:255],
                    created_by=created_by,
                    required_for_gate=_inherit(required_for_gate, previous, "required_for_gate"),
                    pass_threshold=_inherit(pass_threshold, previous, "pass_threshold"),
                )
                DatasetItem.objects.bulk_create(
                    [
                        DatasetItem(
                            dataset=dataset,
                            item_id=item.item_id,
                            input=item.input,
                            expected=item.expected,
                            category=item.category,
                            expected_behaviour=item.expected_behaviour,
                            tags=item.tags,
                            position=position,
                        )
                        for position, item in enumerate(items)
                    ],
                    batch_size=1000,
                )
            return dataset
        except IntegrityError:
            if attempt == _IMPORT_ATTEMPTS - 1:
                raise DatasetImportError(
                    "another import of this dataset is running; try again"
                ) from None
    raise AssertionError("unreachable")


def _inherit(value: Any, previous: Dataset | None, attribute: str) -> Any:
    if value is not None:
        return value
    if previous is not None:
        return getattr(previous, attribute)
    return getattr(Dataset(), attribute)


def dataset_gate_settings_update(
    *, dataset: Dataset, required_for_gate: bool, pass_threshold: float
) -> int:
    """Gate settings belong to the named set, so every version gets them."""
    if not 0 <= pass_threshold <= 1:
        raise ValueError("the pass threshold must be between 0 and 1")
    with transaction.atomic():
        return Dataset.objects.filter(name=dataset.name).update(
            required_for_gate=required_for_gate, pass_threshold=pass_threshold
        )


def run_create(
    *,
    dataset: Dataset,
    version: AgentVersion,
    connector: dict[str, Any],
    created_by: Any = None,
    baseline: DatasetRun | None = None,
    enqueue: bool = True,
) -> DatasetRun:
    """Queue a run of ``version`` over ``dataset``; the baseline defaults to production's.

    ``enqueue=False`` leaves the chunks to the caller (``dataset_run --inline``).
    """
    if dataset.agent_id is not None and version.agent_id != dataset.agent_id:
        raise DatasetRunError(f"{dataset} belongs to {dataset.agent}, not {version.agent}")
    try:
        config = connector_config_clean(config=connector)
    except ConnectorConfigError as exc:
        raise DatasetRunError(str(exc)) from exc
    match = str(connector.get("golden_match") or "fuzzy")
    if match not in MATCH_MODES:
        raise DatasetRunError(f"golden matching must be one of {', '.join(MATCH_MODES)}")
    config["golden_match"] = match
    config |= _rubric_config(connector=connector, agent_id=version.agent_id)
    total = dataset.items.count()
    if not total:
        raise DatasetRunError(f"{dataset} has no items")
    if baseline is None:
        baseline = run_default_baseline(dataset=dataset, version=version)
    with transaction.atomic():
        run = DatasetRun.objects.create(
            dataset=dataset,
            version=version,
            connector=config,
            total=total,
            created_by=created_by,
            baseline=baseline,
            heartbeat_at=timezone.now(),
        )
        if enqueue:
            transaction.on_commit(lambda: run_enqueue(run_id=run.id))
    return run


def _rubric_config(*, connector: dict[str, Any], agent_id: int) -> dict[str, Any]:
    """An optional llm_rubric judge that answers must also satisfy ("rubric when configured")."""
    rubric_id = connector.get("rubric_judge_id")
    if not rubric_id:
        return {}
    if not Judge.objects.filter(id=rubric_id, agent_id=agent_id, kind="llm_rubric").exists():
        raise DatasetRunError("the rubric judge must be an llm_rubric judge of the same agent")
    try:
        minimum = float(connector.get("rubric_min") or 0.6)
    except (TypeError, ValueError) as exc:
        raise DatasetRunError("the rubric minimum must be a number") from exc
    if not 0 <= minimum <= 1:
        raise DatasetRunError("the rubric minimum must be between 0 and 1")
    return {"rubric_judge_id": int(rubric_id), "rubric_min": minimum}


def run_default_baseline(*, dataset: Dataset, version: AgentVersion) -> DatasetRun | None:
    """The newest finished run of production (of any version of the same set), if this run
    is not production's own."""
    rollout = getattr(version.agent, "rollout", None)
    production_id = rollout.production_id if rollout is not None else None
    if production_id is None or production_id == version.id:
        return None
    return (
        DatasetRun.objects.filter(
            dataset__name=dataset.name, version_id=production_id, status=Status.FINISHED
        )
        .order_by("-dataset__version", "-finished_at")
        .first()
    )


def run_enqueue(*, run_id: int, countdown: float = 0) -> bool:
    from config.celery_app import task_send_safely
    from evaluations.datasets.tasks import run_chunk_task

    return task_send_safely(run_chunk_task, args=(run_id,), countdown=countdown or None)


def run_cancel(*, run: DatasetRun, user: Any = None) -> bool:
    who = getattr(user, "username", "") or "system"
    with transaction.atomic():
        changed = DatasetRun.objects.filter(
            id=run.id, status__in=[Status.QUEUED, Status.RUNNING, Status.PAUSED]
        ).update(status=Status.CANCELLED, paused_reason=f"cancelled by {who}")
    return bool(changed)


def run_resume(*, run: DatasetRun, user: Any = None) -> bool:
    """Continue a paused or cancelled run from its last checkpoint."""
    with transaction.atomic():
        changed = DatasetRun.objects.filter(
            id=run.id, status__in=[Status.PAUSED, Status.CANCELLED, Status.FAILED]
        ).update(
            status=Status.QUEUED,
            paused_reason="",
            last_error="",
            consecutive_failures=0,
            # A chunk still in flight after a cancel keeps its lease: it saves its answers
            # and carries the resumed run on, so no item is asked twice.
            lease_until=Case(
                When(status=Status.CANCELLED, then=F("lease_until")), default=Value(None)
            ),
            heartbeat_at=timezone.now(),
            finished_at=None,
        )
        if changed:
            transaction.on_commit(lambda: run_enqueue(run_id=run.id))
    return bool(changed)


def runs_sweep() -> dict[str, int]:
    """Hand out queued runs whose task was lost; pause running runs whose worker vanished."""
    now = timezone.now()
    lost = list(
        DatasetRun.objects.filter(status=Status.QUEUED)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - QUEUED_STALE_AFTER))
        .values_list("id", flat=True)[:500]
    )
    for run_id in lost:
        if DatasetRun.objects.filter(id=run_id, status=Status.QUEUED).update(heartbeat_at=now):
            run_enqueue(run_id=run_id)
    stale_before = now - RUNNING_STALE_AFTER
    stalled = (
        DatasetRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale_before)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            status=Status.PAUSED,
            lease_until=None,
            paused_reason=(
                f"no progress for {int(RUNNING_STALE_AFTER.total_seconds() // 60)} minutes "
                "(worker lost or queue stuck); resume to continue from the last checkpoint"
            ),
        )
    )
    return {"requeued": len(lost), "paused": stalled}
