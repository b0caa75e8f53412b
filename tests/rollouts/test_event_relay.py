"""The relay run in-process against a real local receiver: order, retries, disabling, internal
subscribers, the sweep. (The same code under a real Celery worker: test_event_delivery.py.)"""

import sys
import types
from datetime import timedelta

import pytest
from django.utils import timezone

from rollouts import event_relay
from rollouts.event_relay import backoff_seconds, events_sweep, subscription_pump
from rollouts.events import INTERNAL_HANDLERS, InternalHandler
from rollouts.models import Delivery, Subscription
from rollouts.webhooks import subscription_create
from tests.factories import AgentFactory, RolloutFactory
from tests.rollouts.event_fixtures import publish, receiver  # noqa: F401


@pytest.fixture(autouse=True)
def no_task_enqueueing(monkeypatch):
    """Retries and follow-ups are recorded instead of sent to a broker nobody consumes here."""
    enqueued: list[dict] = []
    monkeypatch.setattr(
        "rollouts.event_tasks.deliver_enqueue",
        lambda **kwargs: enqueued.append(kwargs),
    )
    return enqueued


@pytest.fixture
def agent(db):
    return AgentFactory(slug="support-bot")


def webhook(agent, receiver, path="/hook", types=()):  # noqa: F811
    subscription, _ = subscription_create(
        agent=agent, url=receiver.url + path, event_types=list(types), secret="s" * 20
    )
    return subscription


def test_deliveries_are_sent_in_sequence_order(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    for n in range(5):
        publish(agent, n=n)
    subscription_pump(subscription_id=sub.pk)
    assert [r.json()["sequence"] for r in receiver.requests()] == [1, 2, 3, 4, 5]


def test_new_subscription_gets_only_future_events(agent, receiver):  # noqa: F811
    publish(agent)
    sub = webhook(agent, receiver)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    assert [r.json()["sequence"] for r in receiver.requests()] == [2]


def test_subscription_gets_only_its_event_types(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver, types=["version.promoted"])
    publish(agent, type="rollout.changed")
    publish(agent, type="version.promoted")
    subscription_pump(subscription_id=sub.pk)
    assert [r.header("X-Shadowstage-Event") for r in receiver.requests()] == ["version.promoted"]


def test_failed_head_of_line_holds_back_later_events(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    receiver.configure(script=[500])
    publish(agent)
    publish(agent)
    result = subscription_pump(subscription_id=sub.pk)
    assert (receiver.count(), result.retry_at is not None) == (1, True)


def test_failed_attempt_records_code_error_and_next_attempt(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    receiver.configure(status=503)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    delivery = Delivery.objects.get(subscription=sub)
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("failed", 503, 1)
    assert delivery.next_attempt_at > timezone.now()


def test_retry_is_scheduled_for_when_the_backoff_ends(agent, receiver, no_task_enqueueing):  # noqa: F811
    sub = webhook(agent, receiver)
    receiver.configure(status=503)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    assert 0.5 < no_task_enqueueing[-1]["countdown"] <= 1.2


def test_retry_sends_the_same_delivery_id(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    receiver.configure(script=[500])
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    Delivery.objects.filter(subscription=sub).update(next_attempt_at=timezone.now())
    subscription_pump(subscription_id=sub.pk)
    ids = {r.header("X-Shadowstage-Delivery") for r in receiver.requests()}
    assert (receiver.count(), len(ids)) == (2, 1)


def test_success_clears_failing_since(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    Subscription.objects.filter(pk=sub.pk).update(failing_since=timezone.now())
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    sub.refresh_from_db()
    assert sub.failing_since is None


def test_subscription_failing_for_24_hours_is_disabled_with_a_reason(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    Subscription.objects.filter(pk=sub.pk).update(
        failing_since=timezone.now() - timedelta(hours=24, minutes=1)
    )
    receiver.configure(status=500)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    sub.refresh_from_db()
    assert (sub.enabled, "failing for 24 h" in sub.disabled_reason) == (False, True)


def test_recent_failures_do_not_disable(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    Subscription.objects.filter(pk=sub.pk).update(
        failing_since=timezone.now() - timedelta(hours=23)
    )
    receiver.configure(status=500)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    sub.refresh_from_db()
    assert sub.enabled


def test_410_disables_at_once(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    receiver.configure(status=410)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    sub.refresh_from_db()
    assert (sub.enabled, "410" in sub.disabled_reason) == (False, True)


def test_disabled_subscription_keeps_its_backlog_for_re_enabling(agent, receiver):  # noqa: F811
    from rollouts.webhooks import subscription_disable, subscription_enable

    sub = webhook(agent, receiver)
    subscription_disable(subscription=sub, reason="maintenance")
    publish(agent)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    subscription_enable(subscription=sub)
    subscription_pump(subscription_id=sub.pk)
    assert [r.json()["sequence"] for r in receiver.requests()] == [1, 2]


def test_delivery_to_a_private_address_is_refused_when_not_allowed(agent, receiver, settings):  # noqa: F811
    sub = webhook(agent, receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    delivery = Delivery.objects.get(subscription=sub)
    assert (receiver.count(), delivery.last_error.startswith("refused")) == (0, True)


def test_second_pump_is_refused_while_the_lease_is_held(agent, receiver):  # noqa: F811
    sub = webhook(agent, receiver)
    assert event_relay._lease_acquire(sub.pk) is not None
    assert subscription_pump(subscription_id=sub.pk).busy


def test_redeliver_sends_a_delivered_event_again(agent, receiver):  # noqa: F811
    from rollouts.webhooks import delivery_redeliver

    sub = webhook(agent, receiver)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    delivery_redeliver(delivery=Delivery.objects.get(subscription=sub))
    subscription_pump(subscription_id=sub.pk)
    assert receiver.count() == 2


@pytest.mark.parametrize("attempts", [1, 2, 3, 4, 10])
def test_backoff_doubles_from_one_second_with_jitter(attempts):
    expected = 2 ** (attempts - 1)
    assert 0.8 * expected <= backoff_seconds(attempts=attempts) <= 1.2 * expected


def test_backoff_is_capped_at_an_hour():
    assert backoff_seconds(attempts=40) <= 3600 * 1.2


def test_backoff_honours_retry_after():
    assert backoff_seconds(attempts=1, retry_after=30) >= 30


# --- sweep ------------------------------------------------------------------------------------


def test_sweep_wakes_a_subscription_whose_kick_was_lost(agent, receiver, no_task_enqueueing):  # noqa: F811
    sub = webhook(agent, receiver)
    publish(agent)  # inside the test transaction no on_commit kick ever fires
    events_sweep()
    assert {"subscription_id": sub.pk} in no_task_enqueueing


def test_sweep_leaves_a_subscription_with_nothing_to_do(agent, receiver, no_task_enqueueing):  # noqa: F811
    sub = webhook(agent, receiver)
    publish(agent)
    subscription_pump(subscription_id=sub.pk)
    no_task_enqueueing.clear()
    events_sweep()
    assert {"subscription_id": sub.pk} not in no_task_enqueueing


# --- internal subscribers ---------------------------------------------------------------------


@pytest.fixture
def recording_handler(monkeypatch):
    calls: list = []

    def handle(*, event):
        calls.append(event.sequence)

    monkeypatch.setitem(
        INTERNAL_HANDLERS,
        "test-recorder",
        InternalHandler(name="test-recorder", event_types=("judge.paused",), func=handle),
    )
    return calls


def internal(agent, name):
    event_relay.internal_subscriptions_ensure(agent_ids=[agent.pk])
    return Subscription.objects.get(agent=agent, handler=name)


def test_internal_handler_gets_its_events_once_in_order(agent, recording_handler):
    publish(agent, type="judge.paused")
    publish(agent, type="rollout.changed")
    publish(agent, type="judge.paused")
    sub = internal(agent, "test-recorder")
    subscription_pump(subscription_id=sub.pk)
    subscription_pump(subscription_id=sub.pk)
    assert recording_handler == [1, 3]


def test_failing_internal_handler_is_retried(agent, monkeypatch):
    def broken(*, event):
        raise RuntimeError("not yet")

    monkeypatch.setitem(
        INTERNAL_HANDLERS,
        "test-broken",
        InternalHandler(name="test-broken", event_types=("judge.paused",), func=broken),
    )
    publish(agent, type="judge.paused")
    sub = internal(agent, "test-broken")
    subscription_pump(subscription_id=sub.pk)
    delivery = Delivery.objects.get(subscription=sub)
    assert (delivery.status, delivery.last_error) == ("failed", "RuntimeError: not yet")


@pytest.fixture
def automation_task(monkeypatch):
    """Stands in for rollouts.tasks.automation_check_task, whichever shape it has."""
    sent: list[dict] = []

    class FakeTask:
        name = "rollouts.automation_check_task"

        def run(self, agent_id=None):
            raise AssertionError("must be enqueued, not run inline")

        def apply_async(self, *, args=(), kwargs=None, **options):
            sent.append(kwargs or {})

    module = types.ModuleType("rollouts.tasks")
    module.automation_check_task = FakeTask()
    monkeypatch.setitem(sys.modules, "rollouts.tasks", module)
    return sent


def test_critical_flag_triggers_the_rollback_check(agent, automation_task):
    publish(agent, type="response.flagged", severity="critical", rule="pii_leak")
    sub = internal(agent, "rollback-check-on-critical-flag")
    subscription_pump(subscription_id=sub.pk)
    assert automation_task == [{"agent_id": agent.pk}]


def test_lesser_flag_does_not_trigger_the_rollback_check(agent, automation_task):
    publish(agent, type="response.flagged", severity="high", rule="refusal")
    sub = internal(agent, "rollback-check-on-critical-flag")
    subscription_pump(subscription_id=sub.pk)
    assert automation_task == []


def test_promotion_without_next_candidate_is_a_quiet_no_op(agent, monkeypatch):
    ensured = []
    monkeypatch.setattr(
        "evaluations.judges.defaults.judges_ensure_defaults",
        lambda *, agent: ensured.append(agent) or [],
    )
    rollout = RolloutFactory(agent=agent)
    rollout.candidate = None
    rollout.save()
    publish(agent, type="version.promoted")
    sub = internal(agent, "judging-after-promotion")
    subscription_pump(subscription_id=sub.pk)
    delivery = Delivery.objects.get(subscription=sub)
    assert (delivery.status, ensured) == ("delivered", [])


def test_promotion_with_a_next_candidate_readies_the_judges(agent, monkeypatch):
    ensured = []
    monkeypatch.setattr(
        "evaluations.judges.defaults.judges_ensure_defaults",
        lambda *, agent: ensured.append(agent.slug) or [],
    )
    RolloutFactory(agent=agent)  # v1 production, v2 candidate
    publish(agent, type="version.promoted")
    sub = internal(agent, "judging-after-promotion")
    subscription_pump(subscription_id=sub.pk)
    assert ensured == ["support-bot"]
