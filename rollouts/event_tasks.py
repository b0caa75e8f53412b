"""Event bus tasks, on the `events` queue: relay after commit, deliver per subscription, sweep."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from config.celery_app import task_send_safely


@shared_task(name="rollouts.events.relay_task", acks_late=True)
def relay_task(agent_id: int | None) -> int:
    from rollouts.event_relay import stream_relay

    return stream_relay(agent_id=agent_id)


@shared_task(name="rollouts.events.deliver_task", acks_late=True)
def deliver_task(subscription_id: int) -> dict:
    from rollouts.event_relay import subscription_pump

    result = asdict(subscription_pump(subscription_id=subscription_id))
    result["retry_at"] = result["retry_at"].isoformat() if result["retry_at"] else None
    return result


@shared_task(name="rollouts.events.sweep_task", acks_late=True)
def sweep_task() -> int:
    from rollouts.event_relay import events_sweep

    return events_sweep()


def relay_enqueue(*, agent_id: int | None) -> None:
    task_send_safely(relay_task, args=(agent_id,))


def deliver_enqueue(*, subscription_id: int, countdown: float | None = None) -> None:
    if countdown:
        task_send_safely(deliver_task, args=(subscription_id,), countdown=countdown)
    else:
        task_send_safely(deliver_task, args=(subscription_id,))
