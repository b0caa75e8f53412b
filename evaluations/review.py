"""Reads for the review queue and for judge–human agreement.

Decisions are written by `evaluations.services.flag_review`; this module only reads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Prefetch, QuerySet

from evaluations.models import Flag, Review, Score
from evaluations.stats import cohens_kappa
from rollouts.models import Agent
from shadow.models import Response

QUEUE_PAGE_SIZE = 50
AGREEMENT_MAX_REVIEWS = 5000
FLAG = "flag"
OK = "ok"


@dataclass(frozen=True)
class QueueFilters:
    agent: Agent | None = None
    rule: str = ""
    severity: str = ""

    def apply(self, flags: QuerySet[Flag]) -> QuerySet[Flag]:
        if self.agent is not None:
            flags = flags.filter(agent=self.agent)
        if self.rule:
            flags = flags.filter(rule=self.rule)
        if self.severity:
            flags = flags.filter(severity=self.severity)
        return flags


def review_queue(*, status: str, filters: QueueFilters, limit: int = QUEUE_PAGE_SIZE) -> list[Flag]:
    """Flags in one status, most severe first and then oldest (the flag_review_queue index).

    Each flag comes with its interaction, every response of that interaction (so the page
    can show the flagged answer next to the other version's) and the scores behind it.
    """
    flags = filters.apply(Flag.objects.filter(status=status))
    return list(
        flags.select_related(
            "agent", "interaction", "response__version", "version", "score__judge", "reviewer"
        )
        .prefetch_related(
            Prefetch(
                "interaction__responses",
                queryset=Response.objects.select_related("version").order_by("-served", "id"),
            ),
            Prefetch(
                "interaction__scores",
                queryset=Score.objects.filter(status=Score.Status.DONE)
                .select_related("judge")
                .order_by("judge__name"),
            ),
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer")),
        )
        .order_by("-severity_rank", "created_at", "id")[:limit]
    )


def review_counts(*, filters: QueueFilters) -> dict[str, int]:
    """Number of open and escalated flags under the filters (index-only counts)."""
    rows = (
        filters.apply(Flag.objects.filter(status__in=(Flag.Status.OPEN, Flag.Status.ESCALATED)))
        .values("status")
        .annotate(count=Count("id"))
    )
    counts = {Flag.Status.OPEN.value: 0, Flag.Status.ESCALATED.value: 0}
    counts.update({row["status"]: row["count"] for row in rows})
    return counts


def review_rules(*, agent: Agent | None = None) -> list[str]:
    """Rules that currently have flags waiting, for the filter menu."""
    flags = Flag.objects.filter(status__in=(Flag.Status.OPEN, Flag.Status.ESCALATED))
    if agent is not None:
        flags = flags.filter(agent=agent)
    return sorted(set(flags.values_list("rule", flat=True).distinct()[:200]))


def judge_agreement(*, agent: Agent | None = None) -> dict[int, dict]:
    """Cohen's kappa per judge between "the judge flagged it" and the reviewer's decision.

    Each reviewed response counts once, with its latest final decision (confirmed = the
    answer was bad, dismissed = it was fine). The judge "flagged" a response when a flag
    cites its score, or its verdict was negative (value below 0.5, or a pairwise loss).
    Reviews are human-scale, so reading the most recent few thousand is cheap.
    """
    decided = Flag.objects.filter(
        status__in=(Flag.Status.CONFIRMED, Flag.Status.DISMISSED), response__isnull=False
    )
    if agent is not None:
        decided = decided.filter(agent=agent)
    human: dict[int, str] = {}
    for response_id, status in decided.order_by("-reviewed_at", "-id").values_list(
        "response_id", "status"
    )[:AGREEMENT_MAX_REVIEWS]:
        human.setdefault(response_id, FLAG if status == Flag.Status.CONFIRMED else OK)
    if not human:
        return {}
    scores = list(
        Score.objects.filter(response_id__in=list(human), status=Score.Status.DONE).values_list(
            "id", "judge_id", "response_id", "value", "verdict"
        )
    )
    cited = set(
        Flag.objects.filter(score_id__in=[s[0] for s in scores]).values_list("score_id", flat=True)
    )
    # confusion[judge] = [[judge flag & human flag, judge flag & human ok],
    #                     [judge ok & human flag,   judge ok & human ok]]
    confusion: dict[int, list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])
    for score_id, judge_id, response_id, value, verdict in scores:
        judge_flagged = (
            score_id in cited
            or (value is not None and value < 0.5)
            or verdict == Score.Verdict.LOSS
        )
        row = 0 if judge_flagged else 1
        column = 0 if human[response_id] == FLAG else 1
        confusion[judge_id][row][column] += 1
    out = {}
    for judge_id, matrix in confusion.items():
        n = sum(map(sum, matrix))
        out[judge_id] = {
            "kappa": cohens_kappa(confusion=matrix),
            "n": n,
            "agreement": (matrix[0][0] + matrix[1][1]) / n if n else None,
            "confusion": matrix,
        }
    return out
