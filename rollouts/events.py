"""The event bus's write side: publish an event into the transactional outbox.

Components never call each other about what happened; they publish an event in the same
transaction as their change, and the relay (rollouts/event_relay.py) fans it out after commit
to webhooks and internal subscribers, in order per agent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q

from rollouts.models import Agent, Event, EventStream

logger = logging.getLogger(__name__)

INTERACTION_LOGGED = "interaction.logged"
SCORE_RECORDED = "score.recorded"
RESPONSE_FLAGGED = "response.flagged"
FLAG_REVIEWED = "flag.reviewed"
ROLLOUT_CHANGED = "rollout.changed"
VERSION_PROMOTED = "version.promoted"
ROLLOUT_ROLLED_BACK = "rollout.rolled_back"
JUDGE_PAUSED = "judge.paused"
JUDGE_RESUMED = "judge.resumed"
DATASET_RUN_FINISHED = "dataset_run.finished"

EVENT_TYPES: tuple[str, ...] = (
    INTERACTION_LOGGED,
    SCORE_RECORDED,
    RESPONSE_FLAGGED,
    FLAG_REVIEWED,
    ROLLOUT_CHANGED,
    VERSION_PROMOTED,
    ROLLOUT_ROLLED_BACK,
    JUDGE_PAUSED,
    JUDGE_RESUMED,
    DATASET_RUN_FINISHED,
)

GLOBAL_STREAM_KEY = "global"


class EventOutsideTransaction(RuntimeError):
    """Publishing outside the caller's transaction would break the outbox guarantee."""


def event_publish(*, type: str, agent: Agent | None, payload: dict) -> Event:
    """Write one event in the caller's transaction; it is relayed once that transaction commits.

    A rolled-back transaction takes its events with it; a committed one always has them.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; known: {', '.join(EVENT_TYPES)}")
    if not connection.in_atomic_block:
        raise EventOutsideTransaction(
            "event_publish() must run inside the transaction.atomic() block of the change it "
            "describes"
        )
    agent_id = agent.pk if agent is not None else None
    event = Event.objects.create(
        type=type,
        agent_id=agent_id,
        sequence=_stream_next(agent_id=agent_id),
        payload=payload,
    )
    _relay_after_commit(agent_id=agent_id)
    return event


def stream_of(agent_id: int | None) -> Q:
    """The events (or subscriptions) of one stream: an agent's, or the agent-less one."""
    return Q(agent__isnull=True) if agent_id is None else Q(agent_id=agent_id)


def stream_key(agent_id: int | None) -> str:
    return GLOBAL_STREAM_KEY if agent_id is None else f"agent:{agent_id}"


def event_envelope(*, event: Event) -> dict:
    """What webhooks receive and the API returns for one event."""
    agent = event.agent if event.agent_id else None
    return {
        "id": str(event.id),
        "type": event.type,
        "agent": agent.slug if agent is not None else None,
        "sequence": event.sequence,
        "created_at": event.created_at.isoformat(),
        "payload": event.payload,
    }


def _stream_next(*, agent_id: int | None) -> int:
    """Next sequence of the agent's stream.

    The UPDATE locks the stream row until the caller's transaction ends: a second publisher
    for the same agent waits there, so sequence order is commit order and rollbacks leave no
    gap. The row is first created if missing with ON CONFLICT DO NOTHING on every unique
    index: an upsert arbitrating on one index only (the key) could deadlock two first
    publishers of an agent on the other (the agent's own unique index).
    """
    table = EventStream._meta.db_table
    key = stream_key(agent_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, agent_id, last_sequence) VALUES (%s, %s, 0) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            [key, agent_id],
        )
        cursor.execute(
            f"UPDATE {table} SET last_sequence = last_sequence + 1 WHERE key = %s "  # noqa: S608
            "RETURNING last_sequence",
            [key],
        )
        return cursor.fetchone()[0]


class _RelayKick:
    """One on_commit callback per transaction, however many events it publishes."""

    def __init__(self) -> None:
        self.agent_ids: set[int | None] = set()

    def __call__(self) -> None:
        from rollouts.event_tasks import relay_enqueue

        for agent_id in self.agent_ids:
            relay_enqueue(agent_id=agent_id)


def _relay_after_commit(*, agent_id: int | None) -> None:
    kick = getattr(connection, "_shadowstage_relay_kick", None)
    # Django drops callbacks of rolled-back savepoints from run_on_commit; a kick that is no
    # longer listed belongs to a finished or rolled-back transaction.
    if kick is None or not any(entry[1] is kick for entry in reversed(connection.run_on_commit)):
        kick = _RelayKick()
        setattr(connection, "_shadowstage_relay_kick", kick)  # noqa: B010 - per connection
        transaction.on_commit(kick)
    kick.agent_ids.add(agent_id)


# --- Internal subscribers ---------------------------------------------------------------------

# Called as func(event=event) inside a transaction; raising makes the delivery retry later.
InternalHandlerFunc = Callable[..., None]


@dataclass(frozen=True)
class InternalHandler:
    name: str
    event_types: tuple[str, ...]
    func: InternalHandlerFunc


INTERNAL_HANDLERS: dict[str, InternalHandler] = {}


def internal_handler(*, name: str, types: tuple[str, ...]) -> Callable:
    """Register a Python subscriber; it gets the same ordered, retried delivery as a webhook."""
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event types {unknown}")

    def register(func: InternalHandlerFunc) -> InternalHandlerFunc:
        INTERNAL_HANDLERS[name] = InternalHandler(name=name, event_types=types, func=func)
        return func

    return register


def internal_handlers_for(event_type: str) -> list[InternalHandler]:
    return [h for h in INTERNAL_HANDLERS.values() if event_type in h.event_types]
