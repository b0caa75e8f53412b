"""Reads for the event bus: the live feed, the overview's recent events, the pull API, and the
webhook delivery log."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet

from rollouts.models import Agent, Delivery, Event, EventStream, Subscription

FEED_PAGE = 100
SUMMARY_VALUE_CHARS = 60


def events_recent(*, limit: int = 10, agent: Agent | None = None) -> list[Event]:
    """Newest events first (the overview shows the last ten)."""
    events = Event.objects.select_related("agent")
    if agent is not None:
        events = events.filter(agent=agent)
    return list(events.order_by("-created_at", "-sequence")[:limit])


def _short(value: object) -> str:
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)
    else:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= SUMMARY_VALUE_CHARS else text[: SUMMARY_VALUE_CHARS - 1] + "…"


def event_summary(*, event: Event) -> str:
    """One readable line per event; unknown or partial payloads fall back to key: value."""
    p = event.payload if isinstance(event.payload, dict) else {}
    try:
        if event.type == "interaction.logged":
            versions = ", ".join(p.get("versions") or []) or "no versions"
            return f"{p['count']} interactions · {versions}"
        if event.type == "version.promoted":
            return f"{p['to']['production']} is production (was {p['from']['production']})"
        if event.type in ("rollout.changed", "rollout.rolled_back"):
            return f"{p['action']} by {p['actor']}: {_short(p.get('reason', ''))}"
        if event.type == "response.flagged":
            return f"{p['severity']} flag · {p['rule']} · {p['interaction']}"
        if event.type == "flag.reviewed":
            return (
                f"flag {p['flag']} ({p['rule']}) {p['from']} → {p['decision']} by {p['reviewer']}"
            )
        if event.type == "score.recorded":
            return f"{p['judge']}: {p['done']} scored, {p['failed']} failed"
        if event.type == "judge.paused":
            return f"{p['judge']} paused: {_short(p['reason'])}"
        if event.type == "judge.resumed":
            return f"{p['judge']} resumed by {p['by']}; {p['queued']} scores queued"
        if event.type == "dataset_run.finished":
            return f"{p['dataset']} on {p['version']}: {p['passed']}/{p['total']} passed"
    except (KeyError, TypeError):
        pass
    return " · ".join(f"{k}: {_short(v)}" for k, v in list(p.items())[:5])


def events_after(*, agent: Agent, after_sequence: int, limit: int) -> list[Event]:
    """One page for pull consumers: the agent's events past a cursor, oldest first."""
    return list(
        Event.objects.filter(agent=agent, sequence__gt=after_sequence)
        .select_related("agent")
        .order_by("sequence")[:limit]
    )


def event_sequence_of(*, agent: Agent, event_id: str) -> int | None:
    return Event.objects.filter(agent=agent, pk=event_id).values_list("sequence", flat=True).first()


# --- The live feed ----------------------------------------------------------------------------
# Its cursor holds one committed watermark per stream ("agent id:sequence", "g" for agent-less
# events). Sequences commit in order inside a stream, so "past the watermark" can never miss
# a row that committed late, which a single timestamp or global id cursor could.

FeedCursor = dict[int | None, int]


def feed_cursor_encode(cursor: FeedCursor) -> str:
    return ",".join(
        f"{'g' if agent_id is None else agent_id}:{seq}"
        for agent_id, seq in sorted(cursor.items(), key=lambda kv: (kv[0] is not None, kv[0] or 0))
    )


def feed_cursor_decode(text: str) -> FeedCursor | None:
    cursor: FeedCursor = {}
    for part in filter(None, (text or "").split(",")):
        key, _, seq = part.partition(":")
        try:
            cursor[None if key == "g" else int(key)] = int(seq)
        except ValueError:
            return None
    return cursor


def _watermarks(*, agent: Agent | None) -> FeedCursor:
    streams = EventStream.objects.all()
    if agent is not None:
        streams = streams.filter(agent=agent)
    return dict(streams.values_list("agent_id", "last_sequence"))


def _filtered(*, agent: Agent | None, event_type: str) -> QuerySet[Event]:
    events = Event.objects.select_related("agent")
    if agent is not None:
        events = events.filter(agent=agent)
    if event_type:
        events = events.filter(type=event_type)
    return events


@dataclass(frozen=True)
class FeedPage:
    events: list[Event]
    cursor: str


def feed_page(
    *, agent: Agent | None = None, event_type: str = "", limit: int = FEED_PAGE
) -> FeedPage:
    """The newest events and the cursor a poll continues from."""
    # Watermarks first: an event committing between the two reads is left to the next poll
    # rather than shown twice.
    watermarks = _watermarks(agent=agent)
    events = [
        e
        for e in _filtered(agent=agent, event_type=event_type).order_by("-created_at", "-sequence")[
            :limit
        ]
        if e.sequence <= watermarks.get(e.agent_id, 0)
    ]
    return FeedPage(events=events, cursor=feed_cursor_encode(watermarks))


def feed_since(
    *, cursor: FeedCursor, agent: Agent | None = None, event_type: str = "", limit: int = FEED_PAGE
) -> FeedPage:
    """Only what committed since the cursor, newest first."""
    watermarks = _watermarks(agent=agent)
    advanced = Q()
    for agent_id, seq in watermarks.items():
        seen = cursor.get(agent_id, 0)
        if seq > seen:
            advanced |= Q(agent_id=agent_id, sequence__gt=seen, sequence__lte=seq)
    events: list[Event] = []
    if advanced:
        events = list(
            _filtered(agent=agent, event_type=event_type)
            .filter(advanced)
            .order_by("-created_at", "-sequence")[:limit]
        )
    return FeedPage(events=events, cursor=feed_cursor_encode({**cursor, **watermarks}))


# --- Webhook settings page --------------------------------------------------------------------


def webhooks_for_agent(*, agent: Agent) -> list[Subscription]:
    """The agent's webhook subscriptions with delivery counts (internal ones are not listed)."""
    return list(
        Subscription.objects.filter(agent=agent, handler="")
        .select_related("created_by")
        .annotate(
            delivered=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DELIVERED)),
            undelivered=Count(
                "deliveries", filter=~Q(deliveries__status=Delivery.Status.DELIVERED)
            ),
            last_delivered_at=Max("deliveries__delivered_at"),
        )
        .order_by("created_at")
    )


def deliveries_recent(*, subscription: Subscription, limit: int = 20) -> list[Delivery]:
    return list(
        Delivery.objects.filter(subscription=subscription)
        .select_related("event")
        .order_by("-sequence")[:limit]
    )
