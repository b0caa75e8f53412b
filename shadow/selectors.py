"""Reads for the interactions browser: filters, keyset pages, exports, one interaction.

Pages walk the interaction_agent_recent index (agent, -created_at, -id) from a cursor and
stop after one page, so a page costs the same with a thousand rows or a hundred million.
Nothing here counts the whole table.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from evaluations.models import Flag, Judge, Review, Score, VersionRollup
from rollouts.models import Agent, AgentVersion
from shadow.models import Feedback, Interaction, Response

PAGE_SIZE = 50
EXPORT_BATCH = 1000
VERDICTS = ("win", "tie", "loss", "low", "failed")
FLAGGED = ("any", "open", "none")
META_PREFIX = "meta:"
COMPUTED_SLICES = ("adversarial", "emotional", "edge:empty", "edge:long", "edge:language")


@dataclass(frozen=True)
class Cursor:
    """A position in the (created_at, id) order, carried in the URL as an opaque token."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor | None:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            moment, pk = raw.rsplit("|", 1)
            created_at = datetime.fromisoformat(moment)
            if timezone.is_naive(created_at):
                return None
            return cls(created_at=created_at, id=int(pk))
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class InteractionFilters:
    agent: Agent | None = None
    version: AgentVersion | None = None
    slice: str = ""
    judge: Judge | None = None
    verdict: str = ""
    flagged: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""

    def narrow(self, interactions: QuerySet[Interaction]) -> QuerySet[Interaction]:
        if self.version is not None:
            interactions = interactions.filter(
                Exists(Response.objects.filter(interaction=OuterRef("pk"), version=self.version))
            )
        if self.slice:
            interactions = interactions.filter(_slice_condition(self.slice))
        if self.judge is not None or self.verdict:
            interactions = interactions.filter(Exists(self._scores()))
        if self.flagged:
            flags = Flag.objects.filter(interaction=OuterRef("pk"))
            if self.flagged == "open":
                interactions = interactions.filter(Exists(flags.filter(status=Flag.Status.OPEN)))
            elif self.flagged == "none":
                interactions = interactions.filter(~Exists(flags))
            else:
                interactions = interactions.filter(Exists(flags))
        if self.since is not None:
            interactions = interactions.filter(created_at__gte=_day_start(self.since))
        if self.until is not None:
            interactions = interactions.filter(
                created_at__lt=_day_start(self.until + timedelta(days=1))
            )
        return interactions

    def text_conditions(self) -> list[Q]:
        """Where the search text may match: the input (or the exact id), or an answer.

        Kept apart so each can walk the recent-first index on its own; OR-ed together,
        PostgreSQL turns the answer check into a hashed scan of every response.
        """
        if not self.q:
            return []
        in_answer = Response.objects.filter(interaction=OuterRef("pk"), output__icontains=self.q)
        return [Q(input__icontains=self.q) | Q(external_id=self.q), Q(Exists(in_answer))]

    def _scores(self) -> QuerySet[Score]:
        scores = Score.objects.filter(interaction=OuterRef("pk"))
        if self.judge is not None:
            scores = scores.filter(judge=self.judge)
        if self.verdict == "failed":
            return scores.filter(status=Score.Status.FAILED)
        scores = scores.filter(status=Score.Status.DONE)
        if self.verdict == "low":
            return scores.filter(value__lt=0.5)
        if self.verdict in ("win", "tie", "loss"):
            return scores.filter(verdict=self.verdict)
        return scores


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _slice_condition(name: str) -> Q:
    """Computed slices live in Interaction.slices; "meta:key=value" ones in metadata."""
    if name.startswith(META_PREFIX) and "=" in name:
        key, value = name[len(META_PREFIX) :].split("=", 1)
        return Q(**{f"metadata__{key}": value})
    if connection.vendor == "postgresql":
        return Q(slices__contains=[name])
    # SQLite has no JSON containment: match the quoted element in the stored JSON text.
    return Q(slices_text__contains=f'"{name}"')


def _base(*, agent: Agent, filters: InteractionFilters) -> QuerySet[Interaction]:
    """Every interaction of the agent under the filters (text conditions OR-ed together)."""
    queries = _branches(agent=agent, filters=filters)
    if len(queries) == 1:
        return queries[0]
    combined = Q()
    for condition in filters.text_conditions():
        combined |= condition
    return _narrowed(agent=agent, filters=filters).filter(combined)


def _narrowed(*, agent: Agent, filters: InteractionFilters) -> QuerySet[Interaction]:
    interactions = Interaction.objects.filter(agent=agent)
    if filters.slice and connection.vendor != "postgresql":
        interactions = interactions.annotate(slices_text=Cast("slices", TextField()))
    return filters.narrow(interactions)


def _branches(*, agent: Agent, filters: InteractionFilters) -> list[QuerySet[Interaction]]:
    """One query per way a row can match; a page merges their first rows."""
    narrowed = _narrowed(agent=agent, filters=filters)
    conditions = filters.text_conditions()
    return [narrowed.filter(c) for c in conditions] if conditions else [narrowed]


@dataclass
class Page:
    rows: list[Interaction]
    next_cursor: Cursor | None = None
    previous_cursor: Cursor | None = None


def interactions_page(
    *,
    filters: InteractionFilters,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page, newest first, after (older than) or before (newer than) a cursor.

    Without an agent filter each agent is paged through its own index range (and a text
    search through each place it can match) and the partial pages are merged, which keeps
    the index order usable for every query.
    """
    agents = [filters.agent] if filters.agent else list(Agent.objects.order_by("slug"))
    found: set[tuple[datetime, int]] = set()
    queries = [q for agent in agents for q in _branches(agent=agent, filters=filters)]
    for query in queries:
        if before is not None:
            query = query.filter(
                Q(created_at__gte=before.created_at),
                Q(created_at__gt=before.created_at) | Q(id__gt=before.id),
            ).order_by("created_at", "id")
        else:
            if after is not None:
                query = query.filter(
                    Q(created_at__lte=after.created_at),
                    Q(created_at__lt=after.created_at) | Q(id__lt=after.id),
                )
            query = query.order_by("-created_at", "-id")
        found.update(query.values_list("created_at", "id")[: limit + 1])
    newest_first = before is None
    rows = sorted(found, reverse=newest_first)
    more = len(rows) > limit
    rows = rows[:limit]
    if not newest_first:
        rows.reverse()
    page = Page(rows=_hydrate([pk for _, pk in rows]))
    if page.rows:
        first, last = page.rows[0], page.rows[-1]
        has_older = more if newest_first else True
        has_newer = (after is not None) if newest_first else more
        if has_older:
            page.next_cursor = Cursor(created_at=last.created_at, id=last.id)
        if has_newer:
            page.previous_cursor = Cursor(created_at=first.created_at, id=first.id)
    return page


def _hydrate(ids: list[int]) -> list[Interaction]:
    """The page's rows with what the list shows of their answers, verdicts and flags.

    The related rows come as plain dicts (`response_rows`, `score_rows`, `flag_rows`): a
    page holds a few hundred of them, and model instances would cost more than the queries.
    """
    found = {i.id: i for i in Interaction.objects.filter(id__in=ids).select_related("agent")}
    related = {
        "response_rows": Response.objects.filter(interaction_id__in=ids)
        .order_by("-served", "id")
        .values("interaction_id", "version__name", "served", "latency_ms", "error"),
        "score_rows": Score.objects.filter(interaction_id__in=ids, status=Score.Status.DONE)
        .order_by("judge__name")
        .values("interaction_id", "judge__name", "response__version__name", "value", "verdict"),
        "flag_rows": Flag.objects.filter(interaction_id__in=ids).values("interaction_id", "status"),
    }
    for interaction in found.values():
        for name in related:
            setattr(interaction, name, [])
    for name, rows in related.items():
        for row in rows:
            getattr(found[row["interaction_id"]], name).append(row)
    return [found[pk] for pk in ids if pk in found]


def interactions_export(*, filters: InteractionFilters) -> Iterator[Interaction]:
    """Every interaction under the filters, newest first, read in keyset batches.

    Batches keep memory flat however large the export; agents are exported one after another.
    """
    agents = [filters.agent] if filters.agent else list(Agent.objects.order_by("slug"))
    for agent in agents:
        cursor: Cursor | None = None
        while True:
            query = _base(agent=agent, filters=filters)
            if cursor is not None:
                query = query.filter(
                    Q(created_at__lte=cursor.created_at),
                    Q(created_at__lt=cursor.created_at) | Q(id__lt=cursor.id),
                )
            ids = list(
                query.order_by("-created_at", "-id").values_list("id", flat=True)[:EXPORT_BATCH]
            )
            if not ids:
                break
            batch = (
                Interaction.objects.filter(id__in=ids)
                .select_related("agent")
                .prefetch_related(
                    Prefetch(
                        "responses",
                        queryset=Response.objects.select_related("version").order_by(
                            "-served", "id"
                        ),
                    ),
                    Prefetch(
                        "scores",
                        queryset=Score.objects.select_related("judge").order_by("judge__name"),
                    ),
                    "flags",
                )
                .order_by("-created_at", "-id")
            )
            last = None
            for interaction in batch:
                yield interaction
                last = interaction
            if last is None or len(ids) < EXPORT_BATCH:
                break
            cursor = Cursor(created_at=last.created_at, id=last.id)


def interaction_detail(*, pk: int) -> Interaction | None:
    """One interaction with everything the detail page shows."""
    return (
        Interaction.objects.select_related("agent")
        .prefetch_related(
            Prefetch(
                "responses",
                queryset=Response.objects.select_related("version").order_by("-served", "id"),
            ),
            Prefetch(
                "scores",
                queryset=Score.objects.select_related("judge", "response__version").order_by(
                    "judge__name", "response_id"
                ),
            ),
            Prefetch(
                "flags",
                queryset=Flag.objects.select_related("reviewer", "version", "score__judge")
                .prefetch_related(
                    Prefetch("reviews", queryset=Review.objects.select_related("reviewer"))
                )
                .order_by("-severity_rank", "created_at"),
            ),
            Prefetch("feedback", queryset=Feedback.objects.order_by("created_at")),
        )
        .filter(pk=pk)
        .first()
    )


def filter_choices(*, agent: Agent | None) -> dict:
    """Menus of the filter bar: agents, and the chosen agent's versions and judges."""
    agents = list(Agent.objects.order_by("slug"))
    versions = AgentVersion.objects.select_related("agent").order_by("agent__slug", "created_at")
    judges = Judge.objects.select_related("agent").order_by("agent__slug", "name")
    if agent is not None:
        versions = versions.filter(agent=agent)
        judges = judges.filter(agent=agent)
    recent_slices = VersionRollup.objects.filter(bucket__gte=timezone.now() - timedelta(days=7))
    if agent is not None:
        recent_slices = recent_slices.filter(agent=agent)
    slices = set(COMPUTED_SLICES) | set(
        recent_slices.exclude(slice="").values_list("slice", flat=True).distinct()[:100]
    )
    return {
        "agents": agents,
        "versions": list(versions[:200]),
        "slices": sorted(slices, key=lambda s: (s.startswith(META_PREFIX), s)),
        "judges": list(judges[:200]),
        "verdicts": VERDICTS,
        "flagged": FLAGGED,
    }
