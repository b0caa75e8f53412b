"""Fixtures shared by the event bus tests (imported explicitly by those modules)."""

import pytest
from django.db import transaction

from rollouts.events import event_publish
from rollouts.models import Agent, Event
from tests.fakes.webhook_receiver import WebhookReceiver

EVENTS_WORKER_SETTINGS = "tests.rollouts.events_worker_settings"


@pytest.fixture
def receiver():
    with WebhookReceiver.start() as server:
        yield server


@pytest.fixture
def events_worker(celery_worker_factory):
    """A real worker whose webhook timeout is 2 s."""
    return celery_worker_factory(env={"DJANGO_SETTINGS_MODULE": EVENTS_WORKER_SETTINGS})


def publish(agent: Agent | None, type: str = "rollout.changed", **payload) -> Event:
    """One committed event, as a service would publish it."""
    with transaction.atomic():
        return event_publish(type=type, agent=agent, payload=payload or {"n": 1})
