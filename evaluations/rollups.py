"""Incrementally maintained rollups: pages read these, never raw rows."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from evaluations.models import ScoreRollup, VersionRollup
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
    latency_histogram: list[int] = field(
        default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) - 1)
    )
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
                cell.latency_histogram[histogram_bucket(value_ms=response.latency_ms)] += 1
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


# --- judges pipeline: score rollups ---
SCORE_HISTOGRAM_BINS = 10
POINTWISE, PAIRED, PAIRWISE = (
    ScoreRollup.Kind.POINTWISE,
    ScoreRollup.Kind.PAIRED,
    ScoreRollup.Kind.PAIRWISE,
)


@dataclass
class _ScoreCell:
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    wins: int = 0
    ties: int = 0
    losses: int = 0
    inconsistent: int = 0
    histogram: list[int] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.total_sq += value * value


def score_bin(value: float) -> int:
    return min(int(value * SCORE_HISTOGRAM_BINS), SCORE_HISTOGRAM_BINS - 1)


def score_slices(interaction) -> list[str]:
    from shadow.processing import metadata_slices

    return [ALL_TRAFFIC, *(interaction.slices or []), *metadata_slices(interaction.metadata or {})]


def score_rollups_add(*, scores: Iterable) -> None:
    """Add freshly finished scores (status done, with judge/interaction/response loaded).

    Pointwise scores count for their version; a pointwise score whose counterpart on the other
    side of the rollout (production vs candidate, same judge and interaction) is done too adds
    one paired difference candidate − production. Call inside the transaction that marked the
    scores done, after `pair_locks_take` for their interactions: whichever transaction
    completes a pair counts it, exactly once.
    """
    from rollouts.models import Rollout

    scores = [s for s in scores if s.value is not None]
    if not scores:
        return
    cells: dict[tuple, _ScoreCell] = defaultdict(_ScoreCell)
    agent_of: dict[int, int] = {}
    pointwise = []
    for score in scores:
        agent_of[score.judge_id] = score.judge.agent_id
        slices = score_slices(score.interaction)
        if score.other_response_id is not None:
            bucket = hour_bucket(score.interaction.created_at)
            version, baseline = score.response.version_id, score.other_response.version_id
            for slice_name in slices:
                key = (score.judge_id, version, baseline, PAIRWISE, slice_name, bucket)
                cell = cells[key]
                cell.add(score.value)
                cell.wins += int(score.verdict == "win")
                cell.ties += int(score.verdict == "tie")
                cell.losses += int(score.verdict == "loss")
                cell.inconsistent += int(bool((score.details or {}).get("position_inconsistent")))
            continue
        pointwise.append(score)
        version = score.response.version_id
        bucket = hour_bucket(score.response.created_at)
        for slice_name in slices:
            cell = cells[(score.judge_id, version, version, POINTWISE, slice_name, bucket)]
            cell.add(score.value)
            if not cell.histogram:
                cell.histogram = [0] * SCORE_HISTOGRAM_BINS
            cell.histogram[score_bin(score.value)] += 1

    rollouts = {
        r.agent_id: (r.production_id, r.candidate_id)
        for r in Rollout.objects.filter(agent_id__in={s.interaction.agent_id for s in pointwise})
        if r.production_id and r.candidate_id
    }
    for pair in _completed_pairs(scores=pointwise, rollouts=rollouts):
        judge_id, interaction, production, candidate, difference = pair
        bucket = hour_bucket(interaction.created_at)
        for slice_name in score_slices(interaction):
            key = (judge_id, candidate, production, PAIRED, slice_name, bucket)
            cells[key].add(difference)
    _score_cells_apply(cells=cells, agent_of=agent_of)


def _completed_pairs(*, scores: list, rollouts: dict[int, tuple[int, int]]):
    """(judge, interaction, production, candidate, d) for pairs these scores complete."""
    from evaluations.models import Score

    wanted = {}
    for score in scores:
        sides = rollouts.get(score.interaction.agent_id)
        if sides and score.response.version_id in sides:
            wanted[(score.judge_id, score.interaction_id)] = (score.interaction, sides)
    if not wanted:
        return
    rows = Score.objects.filter(
        judge_id__in={judge_id for judge_id, _ in wanted},
        interaction_id__in={interaction_id for _, interaction_id in wanted},
        status=Score.Status.DONE,
        value__isnull=False,
        other_response__isnull=True,
    ).values_list("judge_id", "interaction_id", "response__version_id", "value")
    values: dict[tuple, dict[int, float]] = defaultdict(dict)
    for judge_id, interaction_id, version_id, value in rows:
        if value is not None:
            values[(judge_id, interaction_id)][version_id] = value
    for key, (interaction, (production, candidate)) in wanted.items():
        found = values.get(key, {})
        if production in found and candidate in found:
            yield key[0], interaction, production, candidate, found[candidate] - found[production]


def pair_locks_take(*, interaction_ids: Iterable[int]) -> None:
    """Serialise finishing scores of the same interactions, always in the same order.

    Transaction-scoped advisory locks: two workers finishing the production and the candidate
    score of one interaction take turns, so the second one sees the first one's score done.
    """
    ids = sorted(set(interaction_ids))
    if not ids or connection.vendor != "postgresql":
        return  # SQLite runs one write transaction at a time anyway.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (k %% 2147483647)::int) "
            "FROM (SELECT DISTINCT unnest(%s::bigint[]) AS k ORDER BY k) AS ordered",
            [_PAIR_LOCK_SPACE, ids],
        )


_PAIR_LOCK_SPACE = 0x5C0E


def _score_cells_apply(*, cells: dict[tuple, _ScoreCell], agent_of: dict[int, int]) -> None:
    # One lock order for every worker (sorted cells): concurrent batches cannot deadlock.
    keys = sorted(cells, key=lambda k: (k[0], k[1], k[2], k[3], k[4], k[5]))
    if not keys:
        return
    if connection.vendor == "postgresql":
        _score_cells_upsert(keys=keys, cells=cells, agent_of=agent_of)
        return
    with transaction.atomic():
        for key in keys:
            judge_id, version_id, baseline_id, kind, slice_name, bucket = key
            cell = cells[key]
            row, _ = ScoreRollup.objects.select_for_update().get_or_create(
                judge_id=judge_id,
                version_id=version_id,
                baseline_id=baseline_id,
                kind=kind,
                slice=slice_name,
                bucket=bucket,
                defaults={"agent_id": agent_of[judge_id]},
            )
            for name in _SCORE_COUNTERS:
                setattr(row, name, getattr(row, name) + getattr(cell, name))
            if cell.histogram:
                row.histogram = _merge_histogram(list(row.histogram or []), cell.histogram)
            row.save()


_SCORE_COUNTERS = ("n", "total", "total_sq", "wins", "ties", "losses", "inconsistent")
_SCORE_CELL_COLUMNS = (
    ("agent_id", "int8"),
    ("judge_id", "int8"),
    ("version_id", "int8"),
    ("baseline_id", "int8"),
    ("kind", "text"),
    ("slice", "text"),
    ("bucket", "timestamptz"),
    ("n", "int4"),
    ("total", "float8"),
    ("total_sq", "float8"),
    ("wins", "int4"),
    ("ties", "int4"),
    ("losses", "int4"),
    ("inconsistent", "int4"),
    ("histogram", "jsonb"),
)


def _score_cells_upsert(
    *, keys: list[tuple], cells: dict[tuple, _ScoreCell], agent_of: dict[int, int]
) -> None:
    """All cells in one INSERT … ON CONFLICT DO UPDATE: one round trip per batch."""
    import json

    rows = []
    for key in keys:
        judge_id, version_id, baseline_id, kind, slice_name, bucket = key
        cell = cells[key]
        rows.append(
            (
                agent_of[judge_id], judge_id, version_id, baseline_id, str(kind), slice_name,
                bucket, cell.n, cell.total, cell.total_sq, cell.wins, cell.ties, cell.losses,
                cell.inconsistent, json.dumps(cell.histogram),
            )
        )  # fmt: skip
    arrays = [list(column) for column in zip(*rows, strict=True)]
    names = [name for name, _ in _SCORE_CELL_COLUMNS]
    params = ", ".join(
        f"%s::{'text' if kind == 'jsonb' else kind}[]" for _, kind in _SCORE_CELL_COLUMNS
    )
    select = ", ".join(
        f"u.c{i}::jsonb" if kind == "jsonb" else f"u.c{i}"
        for i, (_, kind) in enumerate(_SCORE_CELL_COLUMNS)
    )
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    counters = ", ".join(f"{name} = r.{name} + EXCLUDED.{name}" for name in _SCORE_COUNTERS)
    # Histograms add element-wise; an empty one (paired, pairwise cells) leaves the other.
    histogram = (
        "histogram = CASE WHEN jsonb_array_length(EXCLUDED.histogram) = 0 THEN r.histogram "
        "WHEN jsonb_array_length(r.histogram) = 0 THEN EXCLUDED.histogram "
        "ELSE (SELECT jsonb_agg(COALESCE((r.histogram->>i)::int, 0) "
        "+ COALESCE((EXCLUDED.histogram->>i)::int, 0) ORDER BY i) "
        "FROM generate_series(0, GREATEST(jsonb_array_length(r.histogram), "
        "jsonb_array_length(EXCLUDED.histogram)) - 1) AS i) END"
    )
    table = ScoreRollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS r ({', '.join(names)}) "  # noqa: S608 - our own names
            f"SELECT {select} FROM unnest({params}) AS u({aliases}) "
            "ON CONFLICT ON CONSTRAINT scorerollup_cell_unique "
            f"DO UPDATE SET {counters}, {histogram}",
            arrays,
        )


# --- end judges pipeline ---
