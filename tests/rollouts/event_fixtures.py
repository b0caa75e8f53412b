"""Fixtures shared by the event bus tests (imported explicitly by those modules)."""

import os
import time

import pytest
from django.db import transaction

from rollouts.events import event_publish
from rollouts.models import Agent, Event
from tests.conftest import ROOT, CeleryWorker, purge_queues
from tests.fakes.webhook_receiver import WebhookReceiver

EVENTS_WORKER_SETTINGS = "tests.rollouts.events_worker_settings"


@pytest.fixture
def receiver():
    with WebhookReceiver.start() as server:
        yield server


class _EventsWorker(CeleryWorker):
    def _wait_ready(self, timeout: float = 180) -> None:
        # Importing the project (scipy, openai…) takes most of a minute on a busy 2-core box.
        super()._wait_ready(timeout=timeout)


@pytest.fixture
def events_worker(transactional_db):
    """A real worker whose webhook timeout is 2 s.

    Each worker logs to its own file: readiness is read from the log, and a file shared with
    an earlier worker of this test run would already say "ready.".
    """
    purge_queues()
    worker = _EventsWorker(env={"DJANGO_SETTINGS_MODULE": EVENTS_WORKER_SETTINGS})
    worker.log_path = ROOT / "var" / f"test-worker-{os.getpid()}-events-{time.monotonic_ns()}.log"
    worker.start()
    yield worker
    worker.stop()
    purge_queues()


def publish(agent: Agent | None, type: str = "rollout.changed", **payload) -> Event:
    """One committed event, as a service would publish it."""
    with transaction.atomic():
        return event_publish(type=type, agent=agent, payload=payload or {"n": 1})
