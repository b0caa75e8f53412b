import pytest
from django.utils import timezone

from evaluations.comparison import agents_overview
from evaluations.models import Flag
from evaluations.services import flag_review
from evaluations.templatetags.dashboard import percent_estimate
from tests.evaluations.dashboard_support import demo_rollout, judges_for, open_flag, scored_pair
from tests.factories import AgentFactory, user_with_role


@pytest.fixture
def viewer_client(client, db):
    client.force_login(user_with_role("viewer"))
    return client


@pytest.fixture
def rollout(db):
    rollout = demo_rollout()
    for verdict in ("win", "win", "tie", "loss", "win"):
        scored_pair(rollout, production_value=0.6, candidate_value=0.7, verdict=verdict)
    return rollout


def test_anonymous_visitors_are_sent_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_user_without_a_role_is_refused(client, db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user(username="nobody", password="pw"))
    assert client.get("/").status_code == 403


def test_overview_links_every_agent_to_its_pages(viewer_client, rollout):
    html = viewer_client.get("/").content.decode()
    slug = rollout.agent.slug
    links = (f"/agents/{slug}/compare/", f"/agents/{slug}/", f"/interactions/?agent={slug}")
    assert all(link in html for link in links)


def test_overview_shows_rollout_state_and_percentages(viewer_client, rollout):
    html = viewer_client.get("/").content.decode()
    assert f"shadow {rollout.shadow_percent}%" in html


def test_overview_win_rate_has_interval_and_n(viewer_client, rollout):
    row = agents_overview()[0]
    html = viewer_client.get("/").content.decode()
    assert percent_estimate(row["win_rate"]) in html and "n=5" in html


def test_overview_counts_paired_samples_from_rollups(rollout):
    assert agents_overview()[0]["paired_samples"] == 5


def test_overview_counts_open_flags_by_severity(rollout):
    interaction = rollout.agent.interactions.first()
    open_flag(interaction, severity="critical", rule="pii_leak")
    open_flag(interaction, severity="high", rule="llm_rubric_low")
    open_flag(interaction, severity="high", rule="refusal", status=Flag.Status.DISMISSED)
    counts = dict(agents_overview()[0]["open_flags"])
    assert (counts["critical"], counts["high"]) == (1, 1)


def test_overview_names_a_paused_judge(viewer_client, rollout):
    rubric, _ = judges_for(rollout)
    rubric.paused_reason = "judge endpoint refused the API key (401)"
    rubric.paused_at = timezone.now()
    rubric.save()
    html = viewer_client.get("/").content.decode()
    assert "1 paused" in html


def test_agent_without_traffic_gets_instructions(viewer_client, db):
    AgentFactory(slug="new-bot")
    html = viewer_client.get("/").content.decode()
    assert "No traffic yet" in html and "/api/v1/interactions" in html


def test_no_agents_at_all_gets_instructions(viewer_client, db):
    html = viewer_client.get("/").content.decode()
    assert "No agents yet" in html


def test_recent_events_include_a_flag_review(viewer_client, rollout):
    interaction = rollout.agent.interactions.first()
    flag = open_flag(interaction)
    flag_review(flag=flag, user=user_with_role("reviewer"), decision="dismissed", note="")
    html = viewer_client.get("/").content.decode()
    assert "flag.reviewed" in html


def test_htmx_refresh_returns_only_the_agents_partial(viewer_client, rollout):
    response = viewer_client.get("/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="agents"' in html and "Recent events" not in html


def test_favicon_is_served_from_the_site_root(client, db):
    response = client.get("/favicon.ico")
    body = b"".join(response.streaming_content)
    assert (response.status_code, response["Content-Type"], body[:4]) == (
        200,
        "image/x-icon",
        b"\x00\x00\x01\x00",
    )


def test_pages_link_the_favicon(viewer_client, rollout):
    html = viewer_client.get("/").content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in html
