"""`GET /api/v1/events` (scope read): the key's agent's events for pull-based consumers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from rollouts.event_selectors import event_sequence_of, events_after
from rollouts.events import event_envelope
from shadow.auth import require_scope
from shadow.schemas import ErrorOut

router = Router(tags=["events"])

MAX_LIMIT = 1000


class EventOut(Schema):
    id: str
    type: str
    agent: str | None
    sequence: int
    created_at: datetime
    payload: dict[str, Any]


class EventPageOut(Schema):
    events: list[EventOut]
    next_after: str | None
    has_more: bool


def _after_sequence(agent, after: str | None) -> int:
    if not after:
        return 0
    if after.isdigit():
        return int(after)
    try:
        event_id = str(uuid.UUID(after))
    except ValueError:
        raise HttpError(400, "after must be an event id (UUID) or a sequence number") from None
    sequence = event_sequence_of(agent=agent, event_id=event_id)
    if sequence is None:
        raise HttpError(404, f"no event {after} for agent '{agent.slug}'")
    return sequence


@router.get(
    "/events",
    response={200: EventPageOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Events of this key's agent after a cursor, oldest first",
    description=(
        "Pass the `id` of the last event you processed as `after` (or nothing to start at the "
        "beginning) and follow `next_after` until `has_more` is false. Events of an agent are "
        "numbered without gaps in commit order, so a cursor never skips one."
    ),
)
def list_events(request: HttpRequest, after: str | None = None, limit: int = 100):
    key = require_scope(request, "read")
    if not 1 <= limit <= MAX_LIMIT:
        raise HttpError(400, f"limit must be between 1 and {MAX_LIMIT}")
    agent = key.agent
    sequence = _after_sequence(agent, after)
    events = events_after(agent=agent, after_sequence=sequence, limit=limit + 1)
    has_more = len(events) > limit
    events = events[:limit]
    return {
        "events": [event_envelope(event=e) for e in events],
        "next_after": str(events[-1].id) if events else after,
        "has_more": has_more,
    }
