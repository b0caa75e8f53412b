"""End to end with a real Celery worker and a real local HTTP receiver."""

import json
import threading

import pytest
from django.db import connection, transaction
from django.test import Client

from rollouts.events import event_publish
from rollouts.models import AgentVersion, Delivery, Event, Subscription
from rollouts.webhooks import SIGNATURE_HEADER, signature_verify, subscription_create
from tests.conftest import wait_until
from tests.factories import AgentFactory, api_key_for
from tests.rollouts.event_fixtures import events_worker, publish, receiver  # noqa: F401

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

SECRET = "whsec_" + "k" * 30


class Boom(Exception):
    pass


@pytest.fixture
def agent():
    return AgentFactory(slug="support-bot")


def subscribe(agent, receiver, path="/hook", types=()):  # noqa: F811
    subscription, _ = subscription_create(
        agent=agent, url=receiver.url + path, event_types=list(types), secret=SECRET
    )
    return subscription


def ingest_one(agent, external_id="req-1"):
    token = api_key_for(agent)
    body = {
        "interactions": [
            {
                "id": external_id,
                "agent": agent.slug,
                "input": "How do I reset my password?",
                "responses": [{"version": "v1", "served": True, "output": "Use the link."}],
            }
        ]
    }
    return Client().post(
        "/api/v1/interactions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_committed_change_is_delivered_once_with_a_valid_signature(
    agent,
    receiver,  # noqa: F811
    events_worker,  # noqa: F811
):
    subscribe(agent, receiver, types=["interaction.logged"])
    ingest_one(agent)
    wait_until(lambda: receiver.count() >= 1, timeout=20, message="webhook never arrived")
    event = Event.objects.get(agent=agent, type="interaction.logged")
    [request] = receiver.requests()
    assert (
        request.header("X-Shadowstage-Event"),
        request.header("X-Shadowstage-Delivery"),
        request.json()["payload"],
        signature_verify(secret=SECRET, body=request.body, header=request.header(SIGNATURE_HEADER)),
    ) == ("interaction.logged", str(event.id), {"count": 1, "versions": ["v1"]}, True)


def test_rolled_back_change_emits_nothing(agent, receiver, events_worker):  # noqa: F811
    subscribe(agent, receiver)
    with pytest.raises(Boom), transaction.atomic():
        AgentVersion.objects.create(agent=agent, name="v7")
        event_publish(type="rollout.changed", agent=agent, payload={"n": "rolled back"})
        raise Boom
    publish(agent, n="committed")
    wait_until(lambda: receiver.count() >= 1, timeout=20)
    assert [r.json()["payload"]["n"] for r in receiver.requests()] == ["committed"]


def test_receiver_errors_are_retried_with_growing_delays_under_one_delivery_id(
    agent,
    receiver,  # noqa: F811
    events_worker,  # noqa: F811
):
    subscribe(agent, receiver)
    receiver.configure(script=[503, 503, 503])
    publish(agent)
    wait_until(
        lambda: Delivery.objects.filter(status="delivered").exists(),
        timeout=40,
        message="never delivered after the receiver recovered",
    )
    arrivals = receiver.requests()
    gaps = [b.at - a.at for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert len(arrivals) == 4
    assert gaps[0] < gaps[1] < gaps[2]
    assert len({r.header("X-Shadowstage-Delivery") for r in arrivals}) == 1


def test_events_published_while_the_receiver_is_down_all_arrive_in_order(
    agent,
    receiver,  # noqa: F811
    events_worker,  # noqa: F811
):
    subscribe(agent, receiver)
    receiver.stop()
    for n in range(3):
        publish(agent, n=n)
    wait_until(
        lambda: Delivery.objects.filter(attempts__gte=2).exists(),
        timeout=20,
        message="no retry while the receiver was down",
    )
    receiver.restart()
    wait_until(lambda: receiver.count() >= 3, timeout=40, message="backlog not delivered")
    assert [r.json()["sequence"] for r in receiver.requests()] == [1, 2, 3]


def test_gone_receiver_disables_the_subscription(agent, receiver, events_worker):  # noqa: F811
    subscription = subscribe(agent, receiver)
    receiver.configure(status=410)
    publish(agent)
    wait_until(
        lambda: not Subscription.objects.get(pk=subscription.pk).enabled,
        timeout=20,
        message="subscription still enabled after 410",
    )
    assert "410" in Subscription.objects.get(pk=subscription.pk).disabled_reason


def test_slow_receiver_times_out_without_holding_up_another_subscription(
    agent,
    receiver,  # noqa: F811
    events_worker,  # noqa: F811
):
    slow = subscribe(agent, receiver, path="/slow")
    subscribe(agent, receiver, path="/fast")
    receiver.configure(path="/slow", delay=30)
    publish(agent)
    publish(agent)
    wait_until(lambda: receiver.count("/fast") == 2, timeout=10, message="fast one held up")
    wait_until(
        lambda: (
            "timed out"
            in Delivery.objects.filter(subscription=slow).order_by("sequence")[0].last_error
        ),
        timeout=15,
        message="slow delivery did not time out",
    )
    publish(agent)
    wait_until(lambda: receiver.count("/fast") == 3, timeout=10, message="fast one held up")


def _publish_many(
    agents, transactions: int, per_transaction: int, offset: int, errors: list
) -> None:
    try:
        for t in range(transactions):
            target = agents[(t + offset) % len(agents)]
            with transaction.atomic():
                for _ in range(per_transaction):
                    event_publish(type="score.recorded", agent=target, payload={"count": 1})
    except Exception as exc:  # reported by the test, not lost in a thread
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.timeout(900)
def test_ten_thousand_events_arrive_in_per_agent_order(receiver, events_worker):  # noqa: F811
    agents = [AgentFactory(slug="alpha-bot"), AgentFactory(slug="beta-bot")]
    for agent in agents:
        subscribe(agent, receiver, path=f"/{agent.slug}")
    errors: list[Exception] = []
    threads = [
        threading.Thread(target=_publish_many, args=(agents, 5, 500, offset, errors))
        for offset in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], "concurrent first publishers of a stream must all succeed"
    wait_until(
        lambda: receiver.count() >= 10_000,
        timeout=720,
        interval=1,
        message="not all 10,000 events arrived",
    )
    received = {
        agent.slug: [r.json()["sequence"] for r in receiver.requests(f"/{agent.slug}")]
        for agent in agents
    }
    assert received == {agent.slug: list(range(1, 5001)) for agent in agents}


def test_promoting_the_candidate_delivers_a_signed_version_promoted(
    receiver,  # noqa: F811
    events_worker,  # noqa: F811
):
    from django.contrib.auth.models import Group

    from rollouts.roles import ROLE_ORDER
    from rollouts.services import rollout_promote
    from tests.factories import RolloutFactory, user_with_role

    for name in ROLE_ORDER:  # transactional tests flush tables, the migration's groups included
        Group.objects.get_or_create(name=name)
    rollout = RolloutFactory(agent=AgentFactory(slug="support-bot"))
    subscribe(rollout.agent, receiver, types=["version.promoted"])
    rollout_promote(
        rollout=rollout,
        user=user_with_role("operator"),
        expected_revision=rollout.revision,
        reason="candidate is as good or better",
        override=True,
    )
    wait_until(lambda: receiver.count() >= 1, timeout=20, message="no version.promoted arrived")
    [request] = receiver.requests()
    assert (
        request.json()["payload"]["to"]["production"],
        signature_verify(secret=SECRET, body=request.body, header=request.header(SIGNATURE_HEADER)),
    ) == ("v2", True)
