"""Incrementally maintained rollups: pages read these, never raw rows."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from evaluations.models import VersionRollup
from evaluations.stats import LATENCY_BUCKETS_MS, histogram_bucket
from shadow.models import Response

ALL_TRAFFIC = ""


def hour_bucket(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class _VersionCell:
    responses: int = 0
    served: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_n: int = 0
    latency_total: float = 0.0
    latency_histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS_MS))
    feedback_up: int = 0
    feedback_down: int = 0


def _merge_histogram(stored: list[int], extra: list[int]) -> list[int]:
    size = max(len(stored), len(extra))
    stored = stored + [0] * (size - len(stored))
    return [a + b for a, b in zip(stored, extra + [0] * (size - len(extra)), strict=True)]


def version_rollups_add(
    *, responses: Iterable[Response], slices_of: Callable[[Response], list[str]]
) -> None:
    """Add freshly claimed responses to the hourly per-version cells (all traffic + slices)."""
    cells: dict[tuple, _VersionCell] = defaultdict(_VersionCell)
    agent_of: dict[int, int] = {}
    for response in responses:
        bucket = hour_bucket(response.created_at)
        agent_of[response.version_id] = response.agent_id
        for slice_name in (ALL_TRAFFIC, *slices_of(response)):
            cell = cells[(response.version_id, slice_name, bucket)]
            cell.responses += 1
            cell.served += int(response.served)
            cell.errors += int(bool(response.error))
            cell.tokens_in += response.tokens_in or 0
            cell.tokens_out += response.tokens_out or 0
            cell.cost_usd += float(response.cost_usd or 0)
            if response.latency_ms is not None:
                cell.latency_n += 1
                cell.latency_total += response.latency_ms
                cell.latency_histogram[histogram_bucket(response.latency_ms)] += 1
    _apply(cells=cells, agent_of=agent_of)


def feedback_rollup_add(*, response: Response, score: int, slices: list[str]) -> None:
    cells: dict[tuple, _VersionCell] = defaultdict(_VersionCell)
    for slice_name in (ALL_TRAFFIC, *slices):
        cell = cells[(response.version_id, slice_name, hour_bucket(response.created_at))]
        cell.feedback_up += int(score > 0)
        cell.feedback_down += int(score < 0)
    _apply(cells=cells, agent_of={response.version_id: response.agent_id})


def _apply(*, cells: dict[tuple, _VersionCell], agent_of: dict[int, int]) -> None:
    counters = (
        "responses",
        "served",
        "errors",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "latency_n",
        "latency_total",
        "feedback_up",
        "feedback_down",
    )
    with transaction.atomic():
        # Sorted keys give every worker the same lock order, so concurrent batches cannot deadlock.
        for key in sorted(cells, key=lambda k: (k[0], k[1], k[2])):
            version_id, slice_name, bucket = key
            cell = cells[key]
            row, _ = VersionRollup.objects.select_for_update().get_or_create(
                version_id=version_id,
                slice=slice_name,
                bucket=bucket,
                defaults={"agent_id": agent_of[version_id]},
            )
            for name in counters:
                setattr(row, name, getattr(row, name) + getattr(cell, name))
            row.latency_histogram = _merge_histogram(
                list(row.latency_histogram or []), cell.latency_histogram
            )
            row.save()
