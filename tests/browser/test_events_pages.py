"""The live feed updates without a reload; the webhook page shows subscriptions and their log."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from rollouts.models import Delivery
from rollouts.roles import ROLE_ORDER
from rollouts.webhooks import subscription_create, subscription_disable
from tests.factories import AgentFactory, user_with_role
from tests.rollouts.event_fixtures import publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are
    # still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def login(page, live_server, role: str) -> None:
    for name in ROLE_ORDER:  # live_server flushes tables, the migration's groups included
        Group.objects.get_or_create(name=name)
    user_with_role(role, username=f"{role}-browser")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", f"{role}-browser")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")


def rollout_payload(action: str, production: str, was: str, reason: str) -> dict:
    return {
        "action": action,
        "actor": "operator",
        "reason": reason,
        "from": {"production": was, "candidate": production, "candidate_percent": 25},
        "to": {"production": production, "candidate": None, "candidate_percent": 0},
        "gate_status": "pass",
    }


def seed_feed():
    bot = AgentFactory(slug="support-bot")
    billing = AgentFactory(slug="billing-bot")
    publish(bot, type="interaction.logged", count=500, versions=["v1", "v2"])
    publish(billing, type="interaction.logged", count=120, versions=["2026-11-20-prompt-b"])
    publish(
        bot,
        type="score.recorded",
        judge="pairwise",
        judge_id=7,
        kind="llm_pairwise",
        done=48,
        failed=2,
        scores=[1041, 1042],
    )
    publish(
        bot,
        type="response.flagged",
        flag=17,
        interaction="req-8f2c",
        response=90412,
        version="v2",
        rule="pii_leak",
        severity="critical",
        reason="answer contains an e-mail address",
    )
    publish(
        bot,
        type="rollout.changed",
        **rollout_payload("set_percent", "v2", "v1", "gate passes at 25%, moving on"),
    )
    publish(
        bot,
        type="judge.paused",
        judge="rubric",
        judge_id=8,
        kind="llm_rubric",
        reason="HTTP 401 from the judge endpoint: check JUDGE_LLM_API_KEY",
        until=None,
    )
    return bot


def test_feed_shows_new_events_without_reloading(page, live_server):
    bot = seed_feed()
    login(page, live_server, "viewer")
    page.goto(f"{live_server.url}/events/")
    expect(page.locator("tr.feed-row")).to_have_count(6)
    page.evaluate("window.notReloaded = true")
    promoted = publish(
        bot, type="version.promoted", **rollout_payload("promote", "v2", "v1", "all gates green")
    )
    expect(page.locator(f"#event-{promoted.id}")).to_be_visible(timeout=10_000)
    page.screenshot(path=str(SHOTS / "events_feed.png"), full_page=True)
    assert page.evaluate("window.notReloaded === true")


def test_feed_payload_opens_in_place(page, live_server):
    seed_feed()
    login(page, live_server, "viewer")
    page.goto(f"{live_server.url}/events/?agent=support-bot")
    page.locator("tr.feed-row:has(.ev-rolloutchanged) details summary").click()
    page.screenshot(path=str(SHOTS / "events_feed_filtered.png"), full_page=True)
    expect(page.locator("tr.feed-row details[open] pre")).to_contain_text('"actor": "operator"')


def test_webhook_page_shows_subscriptions_log_and_disabled_reason(page, live_server):
    bot = AgentFactory(slug="support-bot")
    active, _ = subscription_create(
        agent=bot, url="http://127.0.0.1:9000/hooks/shadowstage", event_types=[]
    )
    gone, _ = subscription_create(
        agent=bot,
        url="http://127.0.0.1:9001/old-endpoint",
        event_types=["version.promoted", "rollout.rolled_back"],
    )
    now = timezone.now()
    for n, (status, code, attempts, error) in enumerate(
        [
            ("delivered", 200, 1, ""),
            ("delivered", 200, 3, ""),
            ("failed", 503, 2, "HTTP 503: upstream busy"),
            ("pending", None, 0, ""),
        ],
        start=1,
    ):
        event = publish(bot, type="interaction.logged", count=500, versions=["v1", "v2"])
        Delivery.objects.create(
            subscription=active,
            event=event,
            sequence=event.sequence,
            status=status,
            response_code=code,
            attempts=attempts,
            duration_ms=40 + n * 7 if code else None,
            last_error=error,
            delivered_at=now if status == "delivered" else None,
            next_attempt_at=now + timedelta(seconds=4),
        )
    subscription_disable(subscription=gone, reason="disabled at once: HTTP 410: endpoint removed")
    login(page, live_server, "operator")
    page.goto(f"{live_server.url}/agents/support-bot/webhooks/")
    expect(page.locator(".disabled-reason")).to_contain_text("HTTP 410")
    page.screenshot(path=str(SHOTS / "webhooks.png"), full_page=True)
    expect(page.locator(f"#log-{active.pk} tbody tr")).to_have_count(4)


def test_adding_a_webhook_shows_its_secret_once(page, live_server):
    AgentFactory(slug="support-bot")
    login(page, live_server, "operator")
    page.goto(f"{live_server.url}/agents/support-bot/webhooks/")
    page.fill("#id_url", "http://127.0.0.1:9000/hooks/new")
    page.check("input[value='version.promoted']")
    page.click("text=Add webhook")
    expect(page.locator(".secret-once code")).to_contain_text("whsec_")
    page.screenshot(path=str(SHOTS / "webhooks_secret_once.png"), full_page=True)
    page.reload()
    expect(page.locator(".secret-once")).to_have_count(0)
