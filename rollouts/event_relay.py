"""The relay: turns an agent's committed events into deliveries and sends them in order.

Each subscription keeps a cursor into its agent's stream. Because sequences commit in order
inside a stream (see rollouts/events.py), "every event after the cursor, up to the stream's
committed watermark" never skips one. One worker at a time holds a subscription's lease and
sends its deliveries strictly by sequence; a failing head of line waits for its retry and
everything behind it waits too (that is what per-agent order means). Other subscriptions have
their own leases and tasks, so a slow or dead receiver only delays itself.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from rollouts import event_handlers  # noqa: F401 - registers the internal subscribers
from rollouts.events import INTERNAL_HANDLERS, stream_key, stream_of
from rollouts.models import Delivery, EventStream, Subscription
from rollouts.webhooks import (
    AttemptOutcome,
    subscription_disable,
    timeout_seconds,
    webhook_client,
    webhook_deliver,
)

logger = logging.getLogger(__name__)

MATERIALIZE_BATCH = 500
DELIVER_BATCH = 200
# A pump hands its worker back after this long so other subscriptions get their turn.
PUMP_BUDGET_SECONDS = 20.0
# Retries further out than this are left to the beat sweep instead of a countdown task.
COUNTDOWN_LIMIT_SECONDS = 300.0
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_MAX_SECONDS = 3600.0
DEFAULT_DISABLE_AFTER = timedelta(hours=24)


def _lease_length() -> timedelta:
    return timedelta(seconds=max(60.0, 3 * timeout_seconds()))


def backoff_seconds(*, attempts: int, retry_after: float | None = None) -> float:
    """1, 2, 4 s … doubling up to the cap (an hour by default), ±20 % jitter so a fleet of
    failing subscriptions does not retry in lockstep; a receiver's Retry-After is honoured."""
    base = float(getattr(settings, "WEBHOOK_BACKOFF_BASE_SECONDS", DEFAULT_BACKOFF_BASE_SECONDS))
    cap = float(getattr(settings, "WEBHOOK_BACKOFF_MAX_SECONDS", DEFAULT_BACKOFF_MAX_SECONDS))
    delay = min(cap, base * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, min(retry_after, cap))
    return delay


def _disable_after() -> timedelta:
    hours = getattr(settings, "WEBHOOK_DISABLE_AFTER_HOURS", None)
    return DEFAULT_DISABLE_AFTER if hours is None else timedelta(hours=float(hours))


# --- Fan-out ----------------------------------------------------------------------------------


def internal_subscriptions_ensure(*, agent_ids: list[int | None]) -> None:
    """Every stream gets one subscription per registered internal handler, from sequence 0."""
    # Look before inserting: an INSERT referencing the agent waits for anyone holding its row
    # FOR UPDATE, and after the first call there is almost never anything to insert.
    wanted = Q(agent_id__in=[a for a in agent_ids if a is not None])
    if None in agent_ids:
        wanted |= Q(agent__isnull=True)
    existing = set(
        Subscription.objects.filter(wanted).exclude(handler="").values_list("agent_id", "handler")
    )
    rows = [
        Subscription(agent_id=agent_id, handler=h.name, event_types=list(h.event_types))
        for agent_id in agent_ids
        for h in INTERNAL_HANDLERS.values()
        if (agent_id, h.name) not in existing
    ]
    if rows:
        Subscription.objects.bulk_create(rows, ignore_conflicts=True)


def stream_relay(*, agent_id: int | None) -> int:
    """After a commit: wake every subscription of the agent. Returns how many were woken."""
    from rollouts.event_tasks import deliver_enqueue

    def wake(exclude: set[int]) -> set[int]:
        ids = set(
            Subscription.objects.filter(stream_of(agent_id), enabled=True)
            .exclude(pk__in=exclude)
            .values_list("id", flat=True)
        )
        for subscription_id in sorted(ids):
            deliver_enqueue(subscription_id=subscription_id)
        return ids

    # Webhooks first: creating a new agent's internal subscriptions may have to wait for a lock.
    woken = wake(set())
    internal_subscriptions_ensure(agent_ids=[agent_id])
    return len(woken | wake(woken))


def _watermark(agent_id: int | None) -> int:
    value = (
        EventStream.objects.filter(key=stream_key(agent_id))
        .values_list("last_sequence", flat=True)
        .first()
    )
    return value or 0


def _wanted_types(subscription: Subscription) -> list[str]:
    if subscription.is_webhook:
        return list(subscription.event_types)
    handler = INTERNAL_HANDLERS.get(subscription.handler)
    return list(handler.event_types) if handler else list(subscription.event_types)


def _materialize(subscription: Subscription) -> int:
    """Create the deliveries for events past the cursor and move the cursor, atomically."""
    watermark = _watermark(subscription.agent_id)
    if watermark <= subscription.cursor:
        return 0
    from rollouts.models import Event

    events = Event.objects.filter(
        stream_of(subscription.agent_id),
        sequence__gt=subscription.cursor,
        sequence__lte=watermark,
    )
    types = _wanted_types(subscription)
    if types:
        events = events.filter(type__in=types)
    rows = list(events.order_by("sequence").values_list("id", "sequence")[:MATERIALIZE_BATCH])
    new_cursor = rows[-1][1] if len(rows) == MATERIALIZE_BATCH else watermark
    with transaction.atomic():
        Delivery.objects.bulk_create(
            [Delivery(subscription_id=subscription.pk, event_id=i, sequence=s) for i, s in rows],
            ignore_conflicts=True,
        )
        Subscription.objects.filter(pk=subscription.pk, cursor=subscription.cursor).update(
            cursor=new_cursor
        )
    subscription.cursor = new_cursor
    return len(rows)


# --- Leases: one pump per subscription at a time ----------------------------------------------


def _lease_acquire(subscription_id: int) -> datetime | None:
    now = timezone.now()
    until = now + _lease_length()
    taken = (
        Subscription.objects.filter(pk=subscription_id, enabled=True)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(leased_until=until)
    )
    return until if taken else None


def _lease_renew(subscription_id: int, lease: datetime) -> datetime | None:
    now = timezone.now()
    if lease - now > _lease_length() / 2:
        return lease
    until = now + _lease_length()
    kept = Subscription.objects.filter(pk=subscription_id, leased_until=lease).update(
        leased_until=until
    )
    return until if kept else None


def _lease_release(subscription_id: int, lease: datetime) -> None:
    Subscription.objects.filter(pk=subscription_id, leased_until=lease).update(leased_until=None)


# --- Attempts ---------------------------------------------------------------------------------


def _internal_deliver(subscription: Subscription, delivery: Delivery) -> AttemptOutcome:
    handler = INTERNAL_HANDLERS.get(subscription.handler)
    if handler is None:
        return AttemptOutcome(
            ok=False, error=f"no internal handler named {subscription.handler!r}", permanent=True
        )
    started = time.monotonic()
    try:
        with transaction.atomic():
            handler.func(event=delivery.event)
    except Exception as exc:
        logger.exception("internal subscriber %s failed on %s", handler.name, delivery.event_id)
        return AttemptOutcome(
            ok=False,
            duration_ms=int((time.monotonic() - started) * 1000),
            error=f"{type(exc).__name__}: {exc}",
        )
    return AttemptOutcome(ok=True, duration_ms=int((time.monotonic() - started) * 1000))


RECORD_FIELDS = [
    "attempts",
    "response_code",
    "duration_ms",
    "status",
    "delivered_at",
    "last_error",
    "next_attempt_at",
]
FLUSH_EVERY = 100
FLUSH_SECONDS = 1.0


def _deliveries_mark_delivered(deliveries: list[Delivery]) -> None:
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_update(deliveries, RECORD_FIELDS)
        return
    # One UPDATE … FROM (VALUES …): bulk_update's CASE per row and field costs more than the
    # HTTP requests it records.
    rows = ", ".join(
        ["(%s::bigint, %s::integer, %s::integer, %s::integer, %s::timestamptz)"] * len(deliveries)
    )
    params = [
        value
        for d in deliveries
        for value in (d.pk, d.attempts, d.response_code, d.duration_ms, d.delivered_at)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} AS d SET status = %s, last_error = '', "  # noqa: S608
            "attempts = v.attempts, response_code = v.code, duration_ms = v.ms, "
            f"delivered_at = v.at FROM (VALUES {rows}) AS v(id, attempts, code, ms, at) "
            "WHERE d.id = v.id",
            [Delivery.Status.DELIVERED, *params],
        )


class _Recorder:
    """Writes attempt results. Successes are buffered and written in one statement: a commit
    per delivery would make the database's fsync the relay's speed limit. A crash before a
    flush only means those events are sent again, under the same delivery id."""

    def __init__(self) -> None:
        self.delivered: list[Delivery] = []
        self.flushed_at = time.monotonic()

    def flush(self) -> None:
        if self.delivered:
            _deliveries_mark_delivered(self.delivered)
            self.delivered.clear()
        self.flushed_at = time.monotonic()

    def record(
        self, subscription: Subscription, delivery: Delivery, outcome: AttemptOutcome
    ) -> None:
        now = timezone.now()
        delivery.attempts += 1
        delivery.response_code = outcome.status_code
        delivery.duration_ms = outcome.duration_ms
        if outcome.ok:
            delivery.status = Delivery.Status.DELIVERED
            delivery.delivered_at = now
            delivery.last_error = ""
            self.delivered.append(delivery)
            if subscription.failing_since is not None:
                self.flush()
                Subscription.objects.filter(pk=subscription.pk).update(failing_since=None)
                subscription.failing_since = None
            elif (
                len(self.delivered) >= FLUSH_EVERY
                or time.monotonic() - self.flushed_at > FLUSH_SECONDS
            ):
                self.flush()
            return
        self.flush()
        delivery.status = Delivery.Status.FAILED
        delivery.last_error = outcome.error[:2000]
        delivery.next_attempt_at = now + timedelta(
            seconds=backoff_seconds(attempts=delivery.attempts, retry_after=outcome.retry_after)
        )
        delivery.save(update_fields=RECORD_FIELDS)
        _failure_policy(subscription, outcome, now)


def _failure_policy(subscription: Subscription, outcome: AttemptOutcome, now: datetime) -> None:
    """410 disables at once; otherwise a subscription failing for 24 h is disabled."""
    if outcome.permanent:
        subscription_disable(
            subscription=subscription,
            reason=f"disabled at once: {outcome.error or 'permanent failure'}",
        )
    elif subscription.failing_since is None:
        Subscription.objects.filter(pk=subscription.pk, failing_since__isnull=True).update(
            failing_since=now
        )
        subscription.failing_since = now
    elif now - subscription.failing_since >= _disable_after():
        hours = _disable_after().total_seconds() / 3600
        subscription_disable(
            subscription=subscription,
            reason=(
                f"failing for {hours:g} h since {subscription.failing_since:%Y-%m-%d %H:%M} UTC; "
                f"last error: {outcome.error}"
            )[:2000],
        )


# --- The pump ---------------------------------------------------------------------------------


@dataclass
class PumpResult:
    delivered: int = 0
    failed: int = 0
    busy: bool = False
    retry_at: datetime | None = None
    more: bool = False


def _next_in_line(subscription: Subscription) -> list[Delivery]:
    return list(
        Delivery.objects.filter(subscription=subscription)
        .exclude(status=Delivery.Status.DELIVERED)
        .select_related("event", "event__agent")
        .order_by("sequence")[:DELIVER_BATCH]
    )


def _drain(subscription_id: int, lease: datetime, result: PumpResult) -> datetime | None:
    """Deliver in sequence order until done, blocked by a retry, or out of budget."""
    deadline = time.monotonic() + PUMP_BUDGET_SECONDS
    recorder = _Recorder()
    try:
        with webhook_client() as client:
            while True:
                subscription = Subscription.objects.filter(pk=subscription_id, enabled=True).first()
                if subscription is None:
                    return lease
                _materialize(subscription)
                batch = _next_in_line(subscription)
                if not batch:
                    return lease
                for delivery in batch:
                    if delivery.next_attempt_at > timezone.now():
                        result.retry_at = delivery.next_attempt_at
                        return lease
                    if subscription.is_webhook:
                        outcome = webhook_deliver(
                            client=client, subscription=subscription, event=delivery.event
                        )
                    else:
                        outcome = _internal_deliver(subscription, delivery)
                    recorder.record(subscription, delivery, outcome)
                    if not outcome.ok:
                        result.failed += 1
                        if subscription.enabled:
                            result.retry_at = delivery.next_attempt_at
                        return lease
                    result.delivered += 1
                    renewed = _lease_renew(subscription_id, lease)
                    if renewed is None:
                        logger.warning("lost the lease on subscription %s", subscription_id)
                        return None
                    lease = renewed
                    if time.monotonic() > deadline:
                        result.more = True
                        return lease
                # The next batch is read from the database: what this one did must be there.
                recorder.flush()
    finally:
        recorder.flush()


def _has_work(subscription_id: int) -> bool:
    subscription = Subscription.objects.filter(pk=subscription_id, enabled=True).first()
    if subscription is None:
        return False
    if _watermark(subscription.agent_id) > subscription.cursor:
        return True
    return (
        Delivery.objects.filter(subscription=subscription, next_attempt_at__lte=timezone.now())
        .exclude(status=Delivery.Status.DELIVERED)
        .exists()
    )


def subscription_pump(*, subscription_id: int) -> PumpResult:
    """Send what is due for one subscription; safe to call any number of times concurrently."""
    from rollouts.event_tasks import deliver_enqueue

    result = PumpResult()
    lease = _lease_acquire(subscription_id)
    if lease is None:
        result.busy = True
        return result
    held: datetime | None = lease
    try:
        held = _drain(subscription_id, lease, result)
    finally:
        if held is not None:
            _lease_release(subscription_id, held)
    if result.more:
        deliver_enqueue(subscription_id=subscription_id)
    elif result.retry_at is not None:
        wait = (result.retry_at - timezone.now()).total_seconds()
        if wait <= COUNTDOWN_LIMIT_SECONDS:
            deliver_enqueue(subscription_id=subscription_id, countdown=max(0.0, wait))
    elif held is not None and _has_work(subscription_id):
        # Events that committed while this pump held the lease were refused by it; take them.
        deliver_enqueue(subscription_id=subscription_id)
    return result


# --- The beat sweep ---------------------------------------------------------------------------


def events_sweep() -> int:
    """Wake every subscription with work left: kicks lost while the broker was down, retries
    further out than a countdown, leases of crashed workers. Returns how many were woken."""
    from rollouts.event_tasks import deliver_enqueue

    now = timezone.now()
    watermarks = dict(EventStream.objects.values_list("agent_id", "last_sequence"))
    internal_subscriptions_ensure(agent_ids=list(watermarks))
    subscriptions = Subscription.objects.filter(enabled=True).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    )
    behind = {
        pk
        for pk, agent_id, cursor in subscriptions.values_list("id", "agent_id", "cursor")
        if watermarks.get(agent_id, 0) > cursor
    }
    due = set(
        Delivery.objects.exclude(status=Delivery.Status.DELIVERED)
        .filter(next_attempt_at__lte=now, subscription__in=subscriptions)
        .values_list("subscription_id", flat=True)
        .distinct()
    )
    for subscription_id in sorted(behind | due):
        deliver_enqueue(subscription_id=subscription_id)
    return len(behind | due)
