"""Reads of the hourly rollups behind a comparison: sums per judge, side and slice.

Paired and pairwise cells stored in the other direction (A against B) are flipped here so
that callers always see differences as B − A and wins as B's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import connection
from django.db.models import F, Q, Sum

from evaluations import stats
from evaluations.models import ScoreRollup, VersionRollup
from evaluations.rollups import ALL_TRAFFIC
from rollouts.models import Agent, AgentVersion

SCORE_BINS = 10
LATENCY_BINS = len(stats.LATENCY_BUCKETS_MS) - 1
# Past this many points the timeline is drawn per day instead of per hour.
MAX_HOURLY_POINTS = 72


@dataclass
class Sums:
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    wins: int = 0
    ties: int = 0
    losses: int = 0
    inconsistent: int = 0


def pair_filter(*, a: AgentVersion, b: AgentVersion) -> Q:
    """Rows for A and B: their own pointwise cells and the paired cells in either direction."""
    return (
        Q(kind=ScoreRollup.Kind.POINTWISE, version__in=(a.id, b.id), baseline=F("version"))
        | Q(kind__in=(ScoreRollup.Kind.PAIRED, ScoreRollup.Kind.PAIRWISE), version=b, baseline=a)
        | Q(kind__in=(ScoreRollup.Kind.PAIRED, ScoreRollup.Kind.PAIRWISE), version=a, baseline=b)
    )


def score_sums(
    *, agent: Agent, a: AgentVersion, b: AgentVersion, since: datetime, until: datetime
) -> dict[tuple[int, str, str, str], Sums]:
    """Sums keyed (judge, kind, side, slice); side is "a"/"b" for pointwise, "b" for pairs.

    Paired and pairwise cells stored in the other direction (A against B) are flipped so
    that every difference reads B − A and every win is B's.
    """
    rows = (
        ScoreRollup.objects.filter(agent=agent, bucket__gte=since, bucket__lt=until)
        .filter(pair_filter(a=a, b=b))
        .values("judge_id", "kind", "version_id", "baseline_id", "slice")
        .annotate(
            s_n=Sum("n"),
            s_total=Sum("total"),
            s_total_sq=Sum("total_sq"),
            s_wins=Sum("wins"),
            s_ties=Sum("ties"),
            s_losses=Sum("losses"),
            s_inconsistent=Sum("inconsistent"),
        )
    )
    out: dict[tuple[int, str, str, str], Sums] = defaultdict(Sums)
    for row in rows:
        kind = row["kind"]
        flipped = kind != ScoreRollup.Kind.POINTWISE and row["version_id"] == a.id
        if kind == ScoreRollup.Kind.POINTWISE:
            side = "a" if row["version_id"] == a.id else "b"
        else:
            side = "b"
        cell = out[(row["judge_id"], kind, side, row["slice"])]
        cell.n += row["s_n"] or 0
        cell.total += -(row["s_total"] or 0.0) if flipped else (row["s_total"] or 0.0)
        cell.total_sq += row["s_total_sq"] or 0.0
        wins, losses = row["s_wins"] or 0, row["s_losses"] or 0
        cell.wins += losses if flipped else wins
        cell.losses += wins if flipped else losses
        cell.ties += row["s_ties"] or 0
        cell.inconsistent += row["s_inconsistent"] or 0
    return out


def score_histograms(
    *, agent: Agent, a: AgentVersion, b: AgentVersion, since: datetime, until: datetime
) -> dict[tuple[int, str], list[int]]:
    """Score distributions (10 bins of 0.1) of each pointwise judge, all traffic only."""
    cells = ScoreRollup.objects.filter(
        agent=agent,
        bucket__gte=since,
        bucket__lt=until,
        kind=ScoreRollup.Kind.POINTWISE,
        slice=ALL_TRAFFIC,
        version__in=(a.id, b.id),
        baseline=F("version"),
    )
    totals = histogram_totals(
        cells, keys=("judge_id", "version_id"), column="histogram", size=SCORE_BINS
    )
    return {
        (judge_id, "a" if version_id == a.id else "b"): [int(c) for c in counts]
        for (judge_id, version_id), counts in totals.items()
    }


VERSION_COUNTERS = (
    "responses",
    "served",
    "errors",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "latency_n",
    "feedback_up",
    "feedback_down",
)


def version_sums(
    *, agent: Agent, versions: tuple[AgentVersion, AgentVersion], since: datetime, until: datetime
) -> dict[tuple[int, str], dict]:
    """Ops sums per (version, slice): counters summed by the database, histograms by numpy."""
    cells = VersionRollup.objects.filter(
        agent=agent,
        version__in=[v.id for v in versions],
        bucket__gte=since,
        bucket__lt=until,
    )
    out: dict[tuple[int, str], dict] = {}
    for version_id, slice_name, *counters in cells.values_list("version_id", "slice").annotate(
        **{name: Sum(name) for name in VERSION_COUNTERS}
    ):
        out[(version_id, slice_name)] = {
            **dict(zip(VERSION_COUNTERS, counters, strict=True)),
            "latency_histogram": np.zeros(LATENCY_BINS, dtype=np.int64),
        }
    for key, counts in histogram_totals(
        cells, keys=("version_id", "slice"), column="latency_histogram", size=LATENCY_BINS
    ).items():
        out[key]["latency_histogram"] = counts
    return out


def histogram_totals(queryset, *, keys: tuple[str, ...], column: str, size: int):
    """Sum the JSON histogram `column` per `keys` over the rows of `queryset`.

    On PostgreSQL the database adds the arrays element-wise in one grouped pass (one SUM per
    bin), so thousands of hourly cells never cross the wire or get parsed as JSON; elsewhere
    numpy sums them per group. A stored array longer than `size` folds into the last bin.
    """
    if connection.vendor == "postgresql":
        inner, params = queryset.values_list(*keys, column).query.sql_with_params()
        names = ", ".join(f"k{i}" for i in range(len(keys)))
        bins = [f"SUM(COALESCE((histogram->>{i})::bigint, 0))" for i in range(size)]
        bins[-1] += f" + SUM(COALESCE((histogram->>{size})::bigint, 0))"
        # Only generated aliases and bin positions are interpolated; values stay parameters.
        sql = (
            f"SELECT {names}, {', '.join(bins)} "  # noqa: S608
            f"FROM ({inner}) AS cells({names}, histogram) GROUP BY {names}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {
                tuple(row[: len(keys)]): np.asarray(row[len(keys) :], dtype=np.int64)
                for row in cursor.fetchall()
            }
    groups: dict[tuple, list[list[int]]] = defaultdict(list)
    for *key, histogram in queryset.values_list(*keys, column):
        groups[tuple(key)].append(histogram or [])
    return {
        key: sum((fixed_length(h, size) for h in histograms), np.zeros(size, np.int64))
        for key, histograms in groups.items()
    }


def fixed_length(values: list | None, size: int) -> np.ndarray:
    """Histogram counts padded or folded to `size` bins (older rows may carry one extra)."""
    counts = np.zeros(size, dtype=np.int64)
    values = list(values or [])
    if not values:
        return counts
    head = np.asarray(values[:size], dtype=np.int64)
    counts[: len(head)] = head
    if len(values) > size:
        counts[-1] += int(sum(values[size:]))
    return counts


def win_rate_timeline(
    *,
    agent: Agent,
    judge_id: int,
    a: AgentVersion,
    b: AgentVersion,
    since: datetime,
    until: datetime,
    alpha: float,
) -> list[dict]:
    """Cumulative win rate of B with its interval after each hour (or day) of the window."""
    rows = (
        ScoreRollup.objects.filter(
            agent=agent,
            judge_id=judge_id,
            kind=ScoreRollup.Kind.PAIRWISE,
            slice=ALL_TRAFFIC,
            bucket__gte=since,
            bucket__lt=until,
        )
        .filter(Q(version=b, baseline=a) | Q(version=a, baseline=b))
        .values_list("bucket", "version_id", "wins", "ties", "losses")
        .order_by("bucket")
    )
    daily = (until - since) > timedelta(hours=MAX_HOURLY_POINTS)
    periods: dict[datetime, list[int]] = {}
    for bucket, version_id, wins, ties, losses in rows:
        if version_id == a.id:
            wins, losses = losses, wins
        period = bucket.replace(hour=0) if daily else bucket
        counts = periods.setdefault(period, [0, 0, 0])
        counts[0] += wins
        counts[1] += ties
        counts[2] += losses
    points = []
    cumulative = [0, 0, 0]
    for period in sorted(periods):
        for i in range(3):
            cumulative[i] += periods[period][i]
        interval = stats.win_rate_ci(
            wins=cumulative[0], ties=cumulative[1], losses=cumulative[2], alpha=alpha
        )
        points.append({"t": period.isoformat(), **interval.as_dict()})
    return points
