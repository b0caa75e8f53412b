"""An operator imports the starter set, runs it against v1 and v2, and reads the report."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import Page, expect, sync_playwright

from rollouts.roles import ROLE_ORDER

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
STARTER = Path(settings.BASE_DIR) / "evaluations" / "data" / "starter"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(live_server, celery_worker, tmp_path, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setattr(settings, "VAR_DIR", tmp_path)  # keep the developer's demo key intact
    for role in ROLE_ORDER:  # live_server flushes tables, the migration's groups included
        Group.objects.get_or_create(name=role)
    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())
    return live_server.url


@pytest.fixture
def page(demo):
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1360, "height": 1000})
        page.goto(f"{demo}/login/?next=/datasets/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", settings.DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/datasets/")
        yield page
        chromium.close()


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def import_file(page: Page, *, path: Path, name: str, kind: str) -> None:
    page.goto(page.url.split("/datasets/")[0] + "/datasets/")
    page.set_input_files("#id_file", str(path))
    page.fill("#id_name", name)
    page.select_option("#id_kind", kind)
    page.select_option("#id_agent", label="support-bot")
    page.click("form.ds-upload button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Imported")


def run_version(page: Page, *, dataset_url: str, version: str, shot: str = "") -> str:
    page.goto(dataset_url)
    page.select_option("#id_version", label=f"support-bot · {version}")
    expect(page.locator("input[name=connector][value=demo]")).to_be_checked()
    page.click("#run-form button[type=submit]")
    page.wait_for_url("**/datasets/runs/*/")
    if shot:
        # The bar moves by htmx polling while the worker answers item after item.
        expect(page.locator("[data-run-done]")).not_to_have_text("0", timeout=120_000)
        shoot(page, shot, full_page=False)
    expect(page.locator("[data-run-status=finished]")).to_be_visible(timeout=180_000)
    return page.url


def test_operator_finds_v2_regressions_and_refusals_with_the_starter_set(page: Page):
    import_file(page, path=STARTER / "redteam.jsonl", name="starter-redteam", kind="redteam")
    redteam_url = page.url
    shoot(page, "datasets-detail")
    import_file(page, path=STARTER / "golden.jsonl", name="starter-golden", kind="golden")
    golden_url = page.url
    page.goto(redteam_url.split("/datasets/")[0] + "/datasets/")
    shoot(page, "datasets-list")

    run_version(page, dataset_url=redteam_url, version="v1")
    run_version(page, dataset_url=redteam_url, version="v2", shot="datasets-run-progress")
    shoot(page, "datasets-run-redteam")
    expect(page.locator("#regressions")).to_contain_text("over-refused")
    expect(page.locator("[data-kpi=over-refusal]")).not_to_have_text("0%")

    run_version(page, dataset_url=golden_url, version="v1")
    run_version(page, dataset_url=golden_url, version="v2")
    shoot(page, "datasets-run-golden")
    regressions = page.locator("#regressions")
    expect(regressions).to_contain_text("refused a question it should answer")
    expect(regressions).to_contain_text("Do you ship internationally?")

    with page.expect_download() as download:
        page.click("text=Export CSV")
    assert download.value.suggested_filename.endswith(".csv")
