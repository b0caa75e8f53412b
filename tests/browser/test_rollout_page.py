"""An operator drives the demo rollout from the page; a viewer only watches."""

import io
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import Page, expect, sync_playwright

from evaluations.models import Judge
from rollouts.models import Rollout, RolloutEvent
from rollouts.roles import ROLE_ORDER
from tests.rollouts.factories import ops, passing_evidence, this_hour

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(live_server, tmp_path, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setattr(settings, "VAR_DIR", tmp_path)  # keep the developer's demo key intact
    for role in ROLE_ORDER:  # live_server flushes tables, the migration's groups included
        Group.objects.get_or_create(name=role)
    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())
    rollout = Rollout.objects.select_related("production", "candidate").get(
        agent__slug="support-bot"
    )
    # The demo's LLM judges are off without an endpoint; here they have been judging.
    Judge.objects.filter(agent=rollout.agent, name__in=["pairwise", "rubric"]).update(enabled=True)
    passing_evidence(rollout)
    Rollout.objects.filter(pk=rollout.pk).update(step_started_at=this_hour())
    earlier = this_hour() - timedelta(hours=2)
    ops(rollout.production, responses=900, served=900, feedback_up=410, feedback_down=90,
        cost_usd=1.1, latency_ms=820, bucket=earlier)  # fmt: skip
    ops(rollout.candidate, responses=100, served=100, feedback_up=52, feedback_down=6,
        cost_usd=0.1, latency_ms=640, bucket=earlier)  # fmt: skip
    return {"url": live_server.url, "key": (tmp_path / "demo_api_key").read_text().strip()}


@pytest.fixture
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def logged_in(browser, base: str, username: str) -> Page:
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    page.goto(f"{base}/login/?next=/agents/support-bot/")
    page.fill("#id_username", username)
    page.fill("#id_password", settings.DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/agents/support-bot/")
    return page


def routing(demo) -> dict:
    response = httpx.get(
        f"{demo['url']}/api/v1/agents/support-bot/routing",
        headers={"Authorization": f"Bearer {demo['key']}"},
    )
    response.raise_for_status()
    return response.json()


def confirm_in_dialog(page: Page, reason: str, *, override: bool = False) -> None:
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".confirm-gate table")).to_be_visible()
    dialog.locator("textarea[name=reason]").fill(reason)
    if override:
        dialog.locator("input[name=override]").check()
    dialog.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state("networkidle")


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def step(page: Page, label: str):
    return page.locator(".stepper").get_by_role("link", name=label, exact=True)


def test_operator_ramps_promotes_and_rolls_back_from_the_page(demo, browser):
    page = logged_in(browser, demo["url"], "operator")
    shoot(page, "rollout-shadow")
    assert routing(demo)["candidate_percent"] == 0

    step(page, "5%").click()
    expect(page.locator("#confirm-dialog .confirm-gate")).to_be_visible()
    shoot(page, "rollout-confirm-dialog")
    confirm_in_dialog(page, "Shadow numbers hold: first real users")
    expect(page.locator(".big-split")).to_contain_text("candidate 5%")
    assert routing(demo)["candidate_percent"] == 5

    step(page, "25%").click()
    confirm_in_dialog(page, "5% clean for a day")
    expect(page.locator(".big-split")).to_contain_text("candidate 25%")
    assert routing(demo)["candidate_percent"] == 25
    shoot(page, "rollout-25")

    page.get_by_role("link", name="Promote v2…").click()
    confirm_in_dialog(page, "Gate passes at 25%, ship it")
    expect(page.locator(".head-badges")).to_contain_text("Promoted")
    assert (routing(demo)["production"], routing(demo)["candidate"]) == ("v2", None)
    shoot(page, "rollout-promoted")

    page.get_by_role("button", name="Roll back to v1").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".head-badges")).to_contain_text("Rolled back")
    assert routing(demo)["production"] == "v1"
    shoot(page, "rollout-rolled-back")

    actions = list(RolloutEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["set_percent", "set_percent", "promote", "rollback"]


def test_viewer_sees_the_rollout_but_no_buttons(demo, browser):
    page = logged_in(browser, demo["url"], "viewer")
    expect(page.locator(".big-split")).to_be_visible()
    shoot(page, "rollout-viewer")
    assert page.locator(".head-actions, .controls, a.step-btn").count() == 0
