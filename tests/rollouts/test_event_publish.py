"""The outbox write: an event exists exactly when the change that published it committed."""

import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from rollouts import events
from rollouts.events import EventOutsideTransaction, event_publish
from rollouts.models import AgentVersion, Event, EventStream
from tests.factories import AgentFactory, api_key_for
from tests.rollouts.event_fixtures import publish


class Boom(Exception):
    pass


@pytest.fixture
def agent(db):
    return AgentFactory(slug="support-bot")


def test_committed_publish_stores_one_event_with_the_next_sequence(agent):
    publish(agent)
    second = publish(agent)
    assert (Event.objects.filter(agent=agent).count(), second.sequence) == (2, 2)


def test_each_agent_has_its_own_sequence(agent):
    other = AgentFactory(slug="other-bot")
    publish(agent)
    publish(agent)
    assert publish(other).sequence == 1


def test_agentless_events_have_their_own_stream(agent):
    publish(agent)
    assert publish(None, type="judge.paused").sequence == 1


def test_rolled_back_change_leaves_no_event(agent):
    with pytest.raises(Boom), transaction.atomic():
        AgentVersion.objects.create(agent=agent, name="v9")
        event_publish(type="rollout.changed", agent=agent, payload={})
        raise Boom
    assert not Event.objects.exists()


def test_rolled_back_publish_leaves_no_gap_in_the_sequence(agent):
    publish(agent)
    with pytest.raises(Boom), transaction.atomic():
        event_publish(type="rollout.changed", agent=agent, payload={})
        raise Boom
    assert publish(agent).sequence == 2


def test_unknown_type_is_refused(agent):
    with pytest.raises(ValueError, match="unknown event type"), transaction.atomic():
        event_publish(type="rollout.exploded", agent=agent, payload={})


@pytest.mark.django_db(transaction=True)
def test_publishing_outside_a_transaction_is_refused():
    agent = AgentFactory(slug="support-bot")
    with pytest.raises(EventOutsideTransaction):
        event_publish(type="rollout.changed", agent=agent, payload={})


def test_one_relay_kick_per_transaction_covers_every_agent(
    agent, django_capture_on_commit_callbacks, monkeypatch
):
    other = AgentFactory(slug="other-bot")
    kicked = []
    monkeypatch.setattr(
        "rollouts.event_tasks.relay_enqueue", lambda *, agent_id: kicked.append(agent_id)
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for target in (agent, agent, other, agent):
            event_publish(type="rollout.changed", agent=target, payload={})
    assert (len(callbacks), sorted(kicked)) == (1, sorted([agent.pk, other.pk]))


def test_kick_of_a_rolled_back_savepoint_is_registered_again(
    agent, django_capture_on_commit_callbacks, monkeypatch
):
    kicked = []
    monkeypatch.setattr(
        "rollouts.event_tasks.relay_enqueue", lambda *, agent_id: kicked.append(agent_id)
    )
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with pytest.raises(Boom), transaction.atomic():
            event_publish(type="rollout.changed", agent=agent, payload={})
            raise Boom
        event_publish(type="rollout.changed", agent=agent, payload={})
    assert kicked == [agent.pk]


def test_ingested_batch_publishes_interaction_logged(agent):
    token = api_key_for(agent)
    body = {
        "interactions": [
            {
                "id": "req-1",
                "agent": "support-bot",
                "input": "hi",
                "responses": [
                    {"version": "v1", "served": True, "output": "hello"},
                    {"version": "v2", "served": False, "output": "hey"},
                ],
            }
        ]
    }
    Client().post(
        "/api/v1/interactions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    event = Event.objects.get(agent=agent)
    assert (event.type, event.payload) == (
        events.INTERACTION_LOGGED,
        {"count": 1, "versions": ["v1", "v2"]},
    )


@pytest.mark.django_db(transaction=True)
def test_readers_never_see_a_sequence_before_its_predecessors():
    """Concurrent publishers for one agent: whoever sees sequence n sees 1..n (no late gaps)."""
    agent = AgentFactory(slug="support-bot")
    stop = threading.Event()
    violations: list[tuple[int, int]] = []

    def writer() -> None:
        try:
            for _ in range(60):
                with transaction.atomic():
                    event_publish(type="rollout.changed", agent=agent, payload={})
                    time.sleep(0.002)  # hold the transaction open a little after publishing
        finally:
            connection.close()

    def reader() -> None:
        try:
            while not stop.is_set():
                top = max(
                    Event.objects.filter(agent=agent).values_list("sequence", flat=True) or [0]
                )
                seen = Event.objects.filter(agent=agent, sequence__lte=top).count()
                if seen != top:
                    violations.append((top, seen))
        finally:
            connection.close()

    writers = [threading.Thread(target=writer) for _ in range(3)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    watcher.join()
    assert violations == []


@pytest.mark.django_db(transaction=True)
def test_first_publishers_of_new_streams_never_deadlock():
    """Many transactions starting the same new streams at once all commit, gap-free."""
    agents = [AgentFactory(slug=f"fresh-{i}-bot") for i in range(3)]
    rounds, per_round = 8, 6
    errors: list[Exception] = []

    def publisher(start: threading.Barrier, index: int) -> None:
        try:
            start.wait(timeout=30)
            with transaction.atomic():  # two streams per pair of threads, raced for
                target = agents[index % len(agents)]
                event_publish(type="score.recorded", agent=target, payload={})
                time.sleep(0.05)
                event_publish(type="score.recorded", agent=target, payload={})
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    for _ in range(rounds):
        Event.objects.all().delete()
        EventStream.objects.all().delete()  # every round starts the streams anew
        start = threading.Barrier(per_round)
        threads = [threading.Thread(target=publisher, args=(start, i)) for i in range(per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        for agent in agents:
            sequences = sorted(Event.objects.filter(agent=agent).values_list("sequence", flat=True))
            assert sequences == list(range(1, len(sequences) + 1))
    assert Event.objects.count() == per_round * 2  # the last round's
