"""The numbers behind the compare page and GET /api/v1/agents/{slug}/comparison.

Everything is computed from the hourly rollups (ScoreRollup, VersionRollup), so the cost of a
comparison depends on the length of the window and the number of judges and slices, never on
the number of interactions. Version A is the baseline (normally production) and version B the
challenger (normally the candidate): differences are B − A and win rates are B's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Count, Q, Sum
from django.utils import timezone

from evaluations import stats
from evaluations.comparison_rollups import (
    LATENCY_BINS,
    SCORE_BINS,
    Sums,
    score_histograms,
    score_sums,
    version_sums,
    win_rate_timeline,
)
from evaluations.models import Flag, Judge, ScoreRollup, VersionRollup
from evaluations.rollups import ALL_TRAFFIC
from rollouts.models import Agent, AgentVersion, Rollout

DEFAULT_WINDOW = timedelta(days=7)


def comparison_window(
    *, since: datetime | None = None, until: datetime | None = None
) -> tuple[datetime, datetime]:
    """The default window is the last seven days up to the end of the current hour."""
    now = timezone.now()
    until = until or (now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    since = since or (until - DEFAULT_WINDOW)
    return since, until


def comparison_summary(
    *,
    agent: Agent,
    version_a: AgentVersion,
    version_b: AgentVersion,
    since: datetime,
    until: datetime,
    alpha: float = stats.DEFAULT_ALPHA,
) -> dict:
    """Per-judge means and paired differences, pairwise win rates, ops and per-slice numbers.

    Every estimate is an `Interval` dict (`estimate`, `lower`, `upper`, `n`) so the page and
    the API can always show the sample size next to the number.
    """
    judges = {j.id: j for j in Judge.objects.filter(agent=agent).order_by("name")}
    cells = score_sums(agent=agent, a=version_a, b=version_b, since=since, until=until)
    histograms = score_histograms(agent=agent, a=version_a, b=version_b, since=since, until=until)
    ops_cells = version_sums(agent=agent, versions=(version_a, version_b), since=since, until=until)

    pointwise_ids = sorted(
        {judge_id for (judge_id, kind, _, _) in cells if kind == ScoreRollup.Kind.POINTWISE},
        key=lambda i: judges[i].name if i in judges else str(i),
    )
    pairwise_ids = sorted(
        {judge_id for (judge_id, kind, _, _) in cells if kind == ScoreRollup.Kind.PAIRWISE},
        key=lambda i: judges[i].name if i in judges else str(i),
    )

    def judge_name(judge_id: int) -> str:
        return judges[judge_id].name if judge_id in judges else f"judge {judge_id}"

    pointwise = [
        _pointwise_entry(
            judge_id=judge_id,
            name=judge_name(judge_id),
            cells=cells,
            histograms=histograms,
            alpha=alpha,
        )
        for judge_id in pointwise_ids
    ]
    pairwise = [
        _pairwise_entry(judge_id=judge_id, name=judge_name(judge_id), cells=cells, alpha=alpha)
        for judge_id in pairwise_ids
    ]
    timeline = [
        {
            "judge_id": judge_id,
            "judge": judge_name(judge_id),
            "points": win_rate_timeline(
                agent=agent,
                judge_id=judge_id,
                a=version_a,
                b=version_b,
                since=since,
                until=until,
                alpha=alpha,
            ),
        }
        for judge_id in pairwise_ids
    ]
    ops = {
        "a": _ops_entry(ops_cells.get((version_a.id, ALL_TRAFFIC)), alpha=alpha),
        "b": _ops_entry(ops_cells.get((version_b.id, ALL_TRAFFIC)), alpha=alpha),
    }
    paired_samples = max(
        [entry["win_rate"]["n"] for entry in pairwise]
        + [entry["difference"]["n"] for entry in pointwise]
        + [0]
    )
    return {
        "agent": agent.slug,
        "version_a": {"id": version_a.id, "name": version_a.name},
        "version_b": {"id": version_b.id, "name": version_b.name},
        "since": since.isoformat(),
        "until": until.isoformat(),
        "alpha": alpha,
        "confidence": 1 - alpha,
        "paired_samples": paired_samples,
        "pointwise": pointwise,
        "pairwise": pairwise,
        "timeline": timeline,
        "ops": ops,
        "slices": _slice_rows(
            cells=cells,
            ops_cells=ops_cells,
            a=version_a,
            b=version_b,
            pointwise_ids=pointwise_ids,
            pairwise_ids=pairwise_ids,
            judge_name=judge_name,
            alpha=alpha,
        ),
    }


# --- shaping the answer ----------------------------------------------------------------------


def _mean(cell: Sums | None, *, alpha: float) -> dict:
    if cell is None:
        return stats.mean_ci(n=0, total=0.0, total_sq=0.0).as_dict()
    return stats.mean_ci(n=cell.n, total=cell.total, total_sq=cell.total_sq, alpha=alpha).as_dict()


def _difference(cell: Sums | None, *, alpha: float) -> tuple[dict, dict]:
    if cell is None:
        empty = stats.paired_difference_ci(n=0, total=0.0, total_sq=0.0).as_dict()
        return empty, empty
    fixed = stats.paired_difference_ci(
        n=cell.n, total=cell.total, total_sq=cell.total_sq, alpha=alpha
    )
    always_valid = stats.cs_paired_difference_bounds(
        n=cell.n, total=cell.total, total_sq=cell.total_sq, alpha=alpha
    )
    return fixed.as_dict(), always_valid.as_dict()


def _pointwise_entry(
    *,
    judge_id: int,
    name: str,
    cells: dict,
    histograms: dict,
    alpha: float,
) -> dict:
    kind = ScoreRollup.Kind.POINTWISE
    difference, always_valid = _difference(
        cells.get((judge_id, ScoreRollup.Kind.PAIRED, "b", ALL_TRAFFIC)), alpha=alpha
    )
    return {
        "judge_id": judge_id,
        "judge": name,
        "a": _mean(cells.get((judge_id, kind, "a", ALL_TRAFFIC)), alpha=alpha),
        "b": _mean(cells.get((judge_id, kind, "b", ALL_TRAFFIC)), alpha=alpha),
        "difference": difference,
        "difference_always_valid": always_valid,
        "distribution": {
            "edges": [round(i / SCORE_BINS, 1) for i in range(SCORE_BINS + 1)],
            "a": histograms.get((judge_id, "a"), [0] * SCORE_BINS),
            "b": histograms.get((judge_id, "b"), [0] * SCORE_BINS),
        },
    }


def _pairwise_entry(*, judge_id: int, name: str, cells: dict, alpha: float) -> dict:
    cell = cells.get((judge_id, ScoreRollup.Kind.PAIRWISE, "b", ALL_TRAFFIC)) or Sums()
    n = cell.wins + cell.ties + cell.losses
    return {
        "judge_id": judge_id,
        "judge": name,
        "wins": cell.wins,
        "ties": cell.ties,
        "losses": cell.losses,
        "n": n,
        "win_rate": stats.win_rate_ci(
            wins=cell.wins, ties=cell.ties, losses=cell.losses, alpha=alpha
        ).as_dict(),
        "win_rate_always_valid": stats.cs_win_rate_bounds(
            wins=cell.wins, ties=cell.ties, losses=cell.losses, alpha=alpha
        ).as_dict(),
        "shares": {
            outcome: stats.proportion_ci(successes=count, n=n, alpha=alpha).as_dict()
            for outcome, count in (("win", cell.wins), ("tie", cell.ties), ("loss", cell.losses))
        },
        "inconsistent": cell.inconsistent,
        "inconsistency_rate": stats.proportion_ci(
            successes=min(cell.inconsistent, n), n=n, alpha=alpha
        ).as_dict(),
    }


def _ops_entry(cell: dict | None, *, alpha: float) -> dict:
    if cell is None:
        cell = {
            "responses": 0,
            "served": 0,
            "errors": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
            "latency_n": 0,
            "latency_histogram": np.zeros(LATENCY_BINS, dtype=np.int64),
            "feedback_up": 0,
            "feedback_down": 0,
        }
    responses = cell["responses"]
    histogram = [int(c) for c in cell["latency_histogram"]]
    feedback_n = cell["feedback_up"] + cell["feedback_down"]

    def latency(q: float) -> float | None:
        return stats.quantile_from_histogram(
            bucket_edges=stats.LATENCY_BUCKETS_MS, counts=histogram, q=q
        )

    return {
        "responses": responses,
        "served": cell["served"],
        "errors": cell["errors"],
        "error_rate": stats.proportion_ci(
            successes=min(cell["errors"], responses), n=responses, alpha=alpha
        ).as_dict(),
        "latency_n": cell["latency_n"],
        "latency_p50_ms": latency(0.5),
        "latency_p95_ms": latency(0.95),
        "latency_histogram": histogram,
        "latency_edges_ms": list(stats.LATENCY_BUCKETS_MS),
        "tokens_in": cell["tokens_in"],
        "tokens_out": cell["tokens_out"],
        "tokens_per_response": (
            (cell["tokens_in"] + cell["tokens_out"]) / responses if responses else None
        ),
        "cost_usd": cell["cost_usd"],
        "cost_per_1k_usd": cell["cost_usd"] / responses * 1000 if responses else None,
        "feedback_up": cell["feedback_up"],
        "feedback_down": cell["feedback_down"],
        "thumbs_down_rate": stats.proportion_ci(
            successes=cell["feedback_down"], n=feedback_n, alpha=alpha
        ).as_dict(),
    }


def _slice_rows(
    *,
    cells: dict,
    ops_cells: dict,
    a: AgentVersion,
    b: AgentVersion,
    pointwise_ids: list[int],
    pairwise_ids: list[int],
    judge_name,
    alpha: float,
) -> list[dict]:
    """One row per slice; `worse` lists the measures where B is significantly behind A."""
    slice_names = {key[3] for key in cells} | {key[1] for key in ops_cells}
    rows = []
    for slice_name in sorted(slice_names, key=lambda s: (s != ALL_TRAFFIC, s)):
        win_rates = []
        for judge_id in pairwise_ids:
            cell = cells.get((judge_id, ScoreRollup.Kind.PAIRWISE, "b", slice_name)) or Sums()
            win_rates.append(
                {
                    "judge_id": judge_id,
                    "judge": judge_name(judge_id),
                    **stats.win_rate_ci(
                        wins=cell.wins, ties=cell.ties, losses=cell.losses, alpha=alpha
                    ).as_dict(),
                }
            )
        differences = []
        for judge_id in pointwise_ids:
            fixed, _ = _difference(
                cells.get((judge_id, ScoreRollup.Kind.PAIRED, "b", slice_name)), alpha=alpha
            )
            differences.append({"judge_id": judge_id, "judge": judge_name(judge_id), **fixed})
        ops_a = _ops_entry(ops_cells.get((a.id, slice_name)), alpha=alpha)
        ops_b = _ops_entry(ops_cells.get((b.id, slice_name)), alpha=alpha)
        worse, better = _slice_verdicts(
            win_rates=win_rates, differences=differences, ops_a=ops_a, ops_b=ops_b
        )
        rows.append(
            {
                "slice": slice_name,
                "label": slice_name or "all traffic",
                "pairs": max([w["n"] for w in win_rates] + [d["n"] for d in differences] + [0]),
                "win_rates": win_rates,
                "differences": differences,
                "error_rate": {"a": ops_a["error_rate"], "b": ops_b["error_rate"]},
                "latency_p95_ms": {
                    "a": ops_a["latency_p95_ms"],
                    "b": ops_b["latency_p95_ms"],
                    "n_a": ops_a["latency_n"],
                    "n_b": ops_b["latency_n"],
                },
                "worse": worse,
                "better": better,
            }
        )
    return rows


def _slice_verdicts(
    *, win_rates: list[dict], differences: list[dict], ops_a: dict, ops_b: dict
) -> tuple[list[str], list[str]]:
    """Name the measures whose interval excludes "no difference", in either direction."""
    worse: list[str] = []
    better: list[str] = []
    for win_rate in win_rates:
        if win_rate["upper"] is not None and win_rate["upper"] < 0.5:
            worse.append(f"win rate ({win_rate['judge']})")
        elif win_rate["lower"] is not None and win_rate["lower"] > 0.5:
            better.append(f"win rate ({win_rate['judge']})")
    for difference in differences:
        if difference["upper"] is not None and difference["upper"] < 0:
            worse.append(difference["judge"])
        elif difference["lower"] is not None and difference["lower"] > 0:
            better.append(difference["judge"])
    error_a, error_b = ops_a["error_rate"], ops_b["error_rate"]
    if (
        error_a["upper"] is not None
        and error_b["lower"] is not None
        and error_b["lower"] > error_a["upper"]
    ):
        worse.append("error rate")
    return worse, better


# --- overview headlines ----------------------------------------------------------------------


def agents_overview(*, now: datetime | None = None) -> list[dict]:
    """One row per agent for the overview: rollout, paired samples, win rate, open flags.

    The win rate is the candidate's against production over all stored rollups of that
    pair, taken from the pairwise judge with the most samples. Costs a few grouped queries
    for all agents together, whatever the traffic.
    """
    now = now or timezone.now()
    agents = list(Agent.objects.order_by("slug"))
    rollouts = {
        r.agent_id: r
        for r in Rollout.objects.select_related("production", "candidate").filter(agent__in=agents)
    }
    pairs = Q(pk__in=[])
    for rollout in rollouts.values():
        if rollout.production_id and rollout.candidate_id:
            pairs |= Q(version_id=rollout.candidate_id, baseline_id=rollout.production_id)
    pairwise_rows = (
        ScoreRollup.objects.filter(pairs, kind=ScoreRollup.Kind.PAIRWISE, slice=ALL_TRAFFIC)
        .values("agent_id", "judge_id", "judge__name")
        .annotate(wins=Sum("wins"), ties=Sum("ties"), losses=Sum("losses"))
    )
    best: dict[int, dict] = {}
    for row in pairwise_rows:
        n = row["wins"] + row["ties"] + row["losses"]
        if n > best.get(row["agent_id"], {}).get("n", -1):
            best[row["agent_id"]] = {**row, "n": n}
    paired_rows = (
        ScoreRollup.objects.filter(pairs, kind=ScoreRollup.Kind.PAIRED, slice=ALL_TRAFFIC)
        .values("agent_id", "judge_id")
        .annotate(n=Sum("n"))
    )
    paired_n: dict[int, int] = defaultdict(int)
    for paired in paired_rows:
        paired_n[paired["agent_id"]] = max(paired_n[paired["agent_id"]], paired["n"] or 0)
    flags: dict[int, dict[str, int]] = defaultdict(dict)
    for flag_count in (
        Flag.objects.filter(status=Flag.Status.OPEN)
        .values("agent_id", "severity")
        .annotate(count=Count("id"))
    ):
        flags[flag_count["agent_id"]][flag_count["severity"]] = flag_count["count"]
    traffic = dict(
        VersionRollup.objects.filter(
            slice=ALL_TRAFFIC, served__gt=0, bucket__gte=now - timedelta(hours=24)
        )
        .values("agent_id")
        .annotate(served=Sum("served"))
        .values_list("agent_id", "served")
    )
    rows = []
    for agent in agents:
        headline = best.get(agent.id)
        win_rate = (
            stats.win_rate_ci(
                wins=headline["wins"], ties=headline["ties"], losses=headline["losses"]
            ).as_dict()
            if headline
            else None
        )
        rows.append(
            {
                "agent": agent,
                "rollout": rollouts.get(agent.id),
                "paired_samples": max(paired_n.get(agent.id, 0), headline["n"] if headline else 0),
                "win_rate": win_rate,
                "win_rate_judge": headline["judge__name"] if headline else "",
                "open_flags": [
                    (severity, flags[agent.id].get(severity, 0))
                    for severity in ("critical", "high", "medium", "low")
                ],
                "open_flags_total": sum(flags[agent.id].values()),
                "served_24h": traffic.get(agent.id, 0),
            }
        )
    return rows
