"""The live feed (viewer) and an agent's webhook settings (operator only)."""

import re

import pytest
from django.test import Client

from rollouts.models import Delivery, Subscription
from rollouts.webhooks import subscription_create, subscription_disable
from tests.factories import AgentFactory, user_with_role
from tests.rollouts.event_fixtures import publish

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def agent(db):
    return AgentFactory(slug="support-bot")


def client_for(role: str) -> Client:
    client = Client()
    client.force_login(user_with_role(role, username=f"{role}-1"))
    return client


@pytest.fixture
def viewer(db):
    return client_for("viewer")


@pytest.fixture
def operator(db):
    return client_for("operator")


def row_ids(html: str) -> list[str]:
    return re.findall(r'id="event-([0-9a-f-]{36})"', html)


def cursor_of(html: str) -> str:
    return re.search(r'id="feed-cursor" value="([^"]*)"', html).group(1)


# --- feed -------------------------------------------------------------------------------------


def test_feed_needs_a_login(agent):
    assert Client().get("/events/").status_code == 302


def test_feed_lists_events_newest_first(agent, viewer):
    first, second = publish(agent), publish(agent)
    html = viewer.get("/events/").content.decode()
    assert row_ids(html) == [str(second.id), str(first.id)]


def test_feed_filters_by_agent(agent, viewer):
    publish(agent)
    other = publish(AgentFactory(slug="other-bot"))
    html = viewer.get("/events/", {"agent": "other-bot"}).content.decode()
    assert row_ids(html) == [str(other.id)]


def test_feed_filters_by_type(agent, viewer):
    publish(agent, type="rollout.changed")
    promoted = publish(agent, type="version.promoted")
    html = viewer.get("/events/", {"type": "version.promoted"}).content.decode()
    assert row_ids(html) == [str(promoted.id)]


def test_poll_returns_only_rows_committed_since_the_page_was_rendered(agent, viewer):
    publish(agent)
    cursor = cursor_of(viewer.get("/events/").content.decode())
    newer = publish(agent)
    html = viewer.get("/events/", {"cursor": cursor}, **HTMX).content.decode()
    assert row_ids(html) == [str(newer.id)]


def test_poll_moves_the_cursor_forward(agent, viewer):
    cursor = cursor_of(viewer.get("/events/").content.decode())
    publish(agent)
    html = viewer.get("/events/", {"cursor": cursor}, **HTMX).content.decode()
    again = viewer.get("/events/", {"cursor": cursor_of(html)}, **HTMX)
    assert again.status_code == 204


def test_poll_with_nothing_new_swaps_nothing(agent, viewer):
    publish(agent)
    cursor = cursor_of(viewer.get("/events/").content.decode())
    assert viewer.get("/events/", {"cursor": cursor}, **HTMX).status_code == 204


def test_poll_respects_the_type_filter(agent, viewer):
    cursor = cursor_of(viewer.get("/events/", {"type": "version.promoted"}).content.decode())
    publish(agent, type="rollout.changed")
    promoted = publish(agent, type="version.promoted")
    html = viewer.get(
        "/events/", {"type": "version.promoted", "cursor": cursor}, **HTMX
    ).content.decode()
    assert row_ids(html) == [str(promoted.id)]


def test_payload_text_is_escaped(agent, viewer):
    publish(agent, type="response.flagged", severity="high", rule="<script>alert(1)</script>")
    html = viewer.get("/events/").content.decode()
    assert "<script>alert(1)</script>" not in html


# --- webhook settings -------------------------------------------------------------------------


def webhooks_url(agent) -> str:
    return f"/agents/{agent.slug}/webhooks/"


def add(client, agent, **fields):
    data = {"url": "http://127.0.0.1:9/hook", "event_types": [], "secret": ""} | fields
    return client.post(webhooks_url(agent), data)


@pytest.fixture
def subscription(agent):
    sub, _ = subscription_create(agent=agent, url="http://127.0.0.1:9/hook", event_types=[])
    return sub


def test_viewer_cannot_open_webhook_settings(agent, viewer):
    assert viewer.get(webhooks_url(agent)).status_code == 403


def test_forged_add_by_viewer_is_forbidden_and_stores_nothing(agent, viewer):
    response = add(viewer, agent)
    assert (response.status_code, Subscription.objects.filter(handler="").count()) == (403, 0)


@pytest.mark.parametrize("action", ["delete", "enable"])
def test_forged_webhook_actions_by_reviewer_are_forbidden(agent, subscription, action):
    reviewer = client_for("reviewer")
    response = reviewer.post(f"{webhooks_url(agent)}{subscription.pk}/{action}/")
    assert response.status_code == 403


def test_forged_redeliver_by_viewer_is_forbidden(agent, subscription, viewer):
    delivery = Delivery.objects.create(
        subscription=subscription, event=publish(agent), sequence=1, status="delivered"
    )
    response = viewer.post(f"{webhooks_url(agent)}deliveries/{delivery.pk}/redeliver/")
    assert (response.status_code, Delivery.objects.get().status) == (403, "delivered")


def test_operator_adds_a_webhook_for_the_agent(agent, operator):
    add(operator, agent, event_types=["version.promoted", "rollout.rolled_back"])
    sub = Subscription.objects.get(handler="")
    assert (sub.agent, sub.event_types) == (agent, ["rollout.rolled_back", "version.promoted"])


def test_generated_secret_is_shown_exactly_once(agent, operator):
    add(operator, agent)
    secret = Subscription.objects.get(handler="").secret
    first = operator.get(webhooks_url(agent)).content.decode()
    second = operator.get(webhooks_url(agent)).content.decode()
    assert (secret in first, secret in second) == (True, False)


def test_chosen_secret_is_kept(agent, operator):
    add(operator, agent, secret="my-own-secret-0123456789")
    assert Subscription.objects.get(handler="").secret == "my-own-secret-0123456789"


def test_non_http_url_is_refused(agent, operator):
    response = add(operator, agent, url="ftp://example.com/hook")
    assert (response.status_code, Subscription.objects.filter(handler="").exists()) == (400, False)


def test_private_url_is_refused_when_not_allowed(agent, operator, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = add(operator, agent, url="http://127.0.0.1:8000/hook")
    assert b"loopback, private or link-local" in response.content


def test_operator_removes_a_webhook(agent, operator, subscription):
    operator.post(f"{webhooks_url(agent)}{subscription.pk}/delete/")
    assert not Subscription.objects.filter(pk=subscription.pk).exists()


def test_disabled_webhook_shows_its_reason_and_a_re_enable_button(agent, operator, subscription):
    subscription_disable(subscription=subscription, reason="receiver answered HTTP 410")
    html = operator.get(webhooks_url(agent)).content.decode()
    assert "receiver answered HTTP 410" in html and "Re-enable" in html


def test_re_enable_clears_the_disabled_state(agent, operator, subscription):
    subscription_disable(subscription=subscription, reason="gone")
    operator.post(f"{webhooks_url(agent)}{subscription.pk}/enable/")
    subscription.refresh_from_db()
    assert (subscription.enabled, subscription.disabled_reason) == (True, "")


def test_redeliver_puts_the_delivery_back_in_line(agent, operator, subscription):
    delivery = Delivery.objects.create(
        subscription=subscription, event=publish(agent), sequence=1, status="delivered"
    )
    operator.post(f"{webhooks_url(agent)}deliveries/{delivery.pk}/redeliver/")
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_delivery_log_shows_code_duration_and_attempts(agent, operator, subscription):
    Delivery.objects.create(
        subscription=subscription,
        event=publish(agent),
        sequence=1,
        status="failed",
        attempts=3,
        response_code=503,
        duration_ms=42,
        last_error="HTTP 503: busy",
    )
    html = operator.get(f"{webhooks_url(agent)}{subscription.pk}/log/", **HTMX).content.decode()
    assert all(text in html for text in ("503", "42 ms", ">3<", "HTTP 503: busy"))


def test_another_agents_webhook_is_not_reachable(agent, operator, subscription):
    other = AgentFactory(slug="other-bot")
    response = operator.post(f"/agents/{other.slug}/webhooks/{subscription.pk}/delete/")
    assert response.status_code == 404
