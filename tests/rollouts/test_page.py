import pytest
from django.test import Client

from rollouts.models import Rollout, RolloutApproval, RolloutEvent
from tests.factories import AgentFactory, RolloutFactory, user_with_role
from tests.rollouts.factories import ops, pairwise_evidence, passing_evidence

PAGE = "/agents/support-bot/"


@pytest.fixture
def rollout(db):
    return RolloutFactory(agent=AgentFactory(slug="support-bot", name="Support bot"))


def login(client: Client, role: str, username: str | None = None) -> Client:
    client.force_login(user_with_role(role, username=username or role))
    return client


@pytest.fixture
def operator(client, rollout):
    return login(client, "operator")


def post(client, action, rollout, **data):
    data.setdefault("expected_revision", rollout.revision)
    data.setdefault("reason", "testing the page")
    return client.post(f"{PAGE}actions/{action}/", data)


def state(rollout: Rollout) -> tuple:
    rollout.refresh_from_db()
    return (
        rollout.candidate_id,
        rollout.candidate_percent,
        rollout.shadow_percent,
        rollout.revision,
    )


def test_page_shows_the_split_between_production_and_candidate(operator, rollout):
    rollout.candidate_percent = 25
    rollout.save()
    html = operator.get(PAGE).content.decode()
    assert "v1 · production 75%" in html and "v2 · candidate 25%" in html


def test_page_needs_login(client, rollout):
    assert client.get(PAGE).status_code == 302


def test_operator_sees_promote_and_roll_back(operator, rollout):
    html = operator.get(PAGE).content.decode()
    assert "Promote v2" in html and "Roll back" in html


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
def test_viewer_and_reviewer_see_no_action_buttons(client, rollout, role):
    html = login(client, role).get(PAGE).content.decode()
    assert not any(label in html for label in ("Promote v2", "Roll back", "Next step", "Set…"))


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
def test_viewer_and_reviewer_posts_are_forbidden_and_change_nothing(client, rollout, role):
    login(client, role)
    before = state(rollout)
    response = post(client, "set_percent", rollout, percent=5)
    assert (response.status_code, state(rollout), RolloutEvent.objects.count()) == (403, before, 0)


def test_viewer_cannot_open_a_confirmation(client, rollout):
    assert login(client, "viewer").get(f"{PAGE}confirm/promote/").status_code == 403


def test_post_without_csrf_token_is_forbidden(rollout):
    client = Client(enforce_csrf_checks=True)
    login(client, "operator")
    before = state(rollout)
    response = post(client, "set_percent", rollout, percent=5)
    assert (response.status_code, state(rollout)) == (403, before)


def test_confirmation_shows_gate_checks_with_values(operator, rollout):
    passing_evidence(rollout)
    html = operator.get(f"{PAGE}confirm/set_percent/?percent=5").content.decode()
    assert "win_rate:pairwise" in html and "p95_latency_ratio" in html and "0.700" in html


def test_confirmation_previews_what_users_get(operator, rollout):
    html = operator.get(f"{PAGE}confirm/set_percent/?percent=25").content.decode()
    assert "Users on v2 (candidate)" in html and "25%" in html


def test_htmx_confirmation_is_just_the_panel(operator, rollout):
    html = operator.get(f"{PAGE}confirm/promote/", HTTP_HX_REQUEST="true").content.decode()
    assert "confirm-panel" in html and "<html" not in html


def test_setting_a_percent_from_the_page_applies_it(operator, rollout):
    response = post(operator, "set_percent", rollout, percent=5)
    rollout.refresh_from_db()
    assert (response.status_code, rollout.candidate_percent) == (302, 5)


def test_change_without_reason_is_refused_with_a_message(operator, rollout):
    before = state(rollout)
    response = post(operator, "set_percent", rollout, percent=5, reason="")
    assert (response.status_code, "Give a reason" in response.content.decode(), state(rollout)) == (
        400, True, before,
    )  # fmt: skip


@pytest.mark.parametrize("percent", ["-5", "101", "lots"])
def test_bad_percent_is_refused_with_a_message_and_no_event(operator, rollout, percent):
    before = state(rollout)
    response = post(operator, "set_percent", rollout, percent=percent)
    html = response.content.decode()
    assert (response.status_code, "0 and 100" in html or "0 to 100" in html) == (400, True)
    assert (state(rollout), RolloutEvent.objects.count()) == (before, 0)


def test_unknown_version_is_refused_with_a_message(operator, rollout):
    before = state(rollout)
    response = post(operator, "start_shadow", rollout, candidate="v404", shadow_percent=100)
    assert ("Unknown version" in response.content.decode(), state(rollout)) == (True, before)


def test_candidate_equal_to_production_is_refused_with_a_message(operator, rollout):
    before = state(rollout)
    response = post(operator, "start_shadow", rollout, candidate="v1", shadow_percent=100)
    assert (response.status_code, "already production" in response.content.decode()) == (400, True)
    assert (state(rollout), RolloutEvent.objects.count()) == (before, 0)


def test_promote_with_no_candidate_is_refused_with_a_message(operator, rollout):
    rollout.candidate = None
    rollout.save()
    response = post(operator, "promote", rollout, override="on")
    html = response.content.decode()
    assert ("no candidate to promote" in html, RolloutEvent.objects.count()) == (True, 0)


def test_rollback_with_nothing_to_roll_back_is_refused_with_a_message(operator, rollout):
    rollout.shadow_percent = 0
    rollout.save()
    response = post(operator, "rollback", rollout)
    assert ("Nothing to roll back" in response.content.decode(), RolloutEvent.objects.count()) == (
        True, 0,
    )  # fmt: skip


def test_stale_revision_is_refused_with_a_clear_message(operator, rollout):
    stale = rollout.revision
    post(operator, "set_percent", rollout, percent=5)
    response = post(operator, "set_percent", rollout, percent=25, expected_revision=stale)
    html = response.content.decode()
    assert (response.status_code, "changed since you loaded it" in html) == (409, True)


def test_stale_revision_leaves_the_other_operators_change_in_place(operator, rollout):
    stale = rollout.revision
    post(operator, "set_percent", rollout, percent=5)
    post(operator, "set_percent", rollout, percent=25, expected_revision=stale)
    rollout.refresh_from_db()
    assert (rollout.candidate_percent, RolloutEvent.objects.count()) == (5, 1)


def test_promote_against_failing_gate_without_override_is_refused(operator, rollout):
    pairwise_evidence(rollout, wins=100, ties=100, losses=800)
    response = post(operator, "promote", rollout)
    assert ("override" in response.content.decode(), state(rollout)[0]) == (
        True,
        rollout.candidate_id,
    )


def test_promote_with_override_tick_is_recorded(operator, rollout):
    pairwise_evidence(rollout, wins=100, ties=100, losses=800)
    post(operator, "promote", rollout, override="on")
    assert RolloutEvent.objects.get(action="promote").override is True


def test_rollback_is_one_click_without_a_reason(operator, rollout):
    rollout.candidate_percent = 25
    rollout.save()
    operator.post(f"{PAGE}actions/rollback/", {"expected_revision": rollout.revision})
    rollout.refresh_from_db()
    assert (rollout.candidate_percent, RolloutEvent.objects.get().reason) == (
        0, "Rolled back from the rollout page",
    )  # fmt: skip


def test_step_needing_approval_files_a_request_from_the_page(operator, rollout):
    rollout.approval_required_from_percent, rollout.candidate_percent = 100, 25
    rollout.save()
    post(operator, "set_percent", rollout, percent=100)
    rollout.refresh_from_db()
    assert (rollout.candidate_percent, RolloutApproval.objects.get().status) == (25, "pending")


def test_another_operator_approves_on_the_page(client, rollout):
    rollout.approval_required_from_percent, rollout.candidate_percent = 100, 25
    rollout.save()
    login(client, "operator", "alice")
    post(client, "set_percent", rollout, percent=100)
    approval = RolloutApproval.objects.get()
    rollout.refresh_from_db()
    login(client, "operator", "bob")
    client.post(
        f"{PAGE}approvals/{approval.pk}/",
        {"expected_revision": rollout.revision, "reason": "ok", "decision": "approve"},
    )
    rollout.refresh_from_db()
    assert rollout.candidate_percent == 100


def test_requester_sees_withdraw_not_approve(client, rollout):
    rollout.approval_required_from_percent, rollout.candidate_percent = 100, 25
    rollout.save()
    login(client, "operator", "alice")
    post(client, "set_percent", rollout, percent=100)
    html = client.get(PAGE).content.decode()
    assert ('value="reject">Withdraw' in html, 'value="approve"' in html) == (True, False)


def test_timeline_lists_every_event_with_reason(operator, rollout):
    post(operator, "set_percent", rollout, percent=5, reason="first users")
    rollout.refresh_from_db()
    post(operator, "set_percent", rollout, percent=25, reason="holding well")
    html = operator.get(PAGE).content.decode()
    assert "first users" in html and "holding well" in html and "candidate share 5% → 25%" in html


def test_reasons_are_escaped(operator, rollout):
    post(operator, "set_percent", rollout, percent=5, reason="<script>alert(1)</script>")
    html = operator.get(PAGE).content.decode()
    assert "<script>alert(1)</script>" not in html


def test_ab_panel_shows_served_arms_with_intervals(operator, rollout):
    rollout.candidate_percent = 25
    rollout.save()
    ops(
        rollout.production,
        responses=750,
        served=750,
        feedback_up=80,
        feedback_down=20,
        cost_usd=0.9,
    )
    ops(rollout.candidate, responses=250, served=250, feedback_up=30, feedback_down=5, cost_usd=0.2)
    html = operator.get(PAGE).content.decode()
    assert "<div>80.0%</div>" in html and "n=35" in html and "$0.80" in html


def test_ab_panel_waits_until_the_candidate_serves(operator, rollout):
    html = operator.get(PAGE).content.decode()
    assert "Appears once the candidate serves real users" in html


def test_htmx_gate_refresh_returns_the_gate_partial(operator, rollout):
    html = operator.get(f"{PAGE}?partial=gate", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="gate"' in html and "Timeline" not in html


def test_unknown_agent_is_404(operator):
    assert operator.get("/agents/nope/").status_code == 404


def test_seed_sequence_runs_from_the_page_with_evidence_at_each_step(operator, rollout):
    rollout.shadow_percent, rollout.state = 0, Rollout.State.IDLE
    rollout.save()
    passing_evidence(rollout)
    steps = [
        ("start_shadow", {"candidate": "v2", "shadow_percent": 100}),
        ("set_percent", {"percent": 5}),
        ("set_percent", {"percent": 25}),
        ("set_percent", {"percent": 100}),
        ("promote", {}),
        ("rollback", {}),
    ]
    for action, data in steps:
        rollout.refresh_from_db()
        assert post(operator, action, rollout, **data).status_code == 302, action
    events = list(RolloutEvent.objects.order_by("created_at", "id"))
    rollout.refresh_from_db()
    assert [e.action for e in events] == [a for a, _ in steps]
    assert all(e.gate.get("checks") for e in events)
    assert (rollout.production.name, rollout.candidate.name, rollout.state) == (
        "v1", "v2", Rollout.State.ROLLED_BACK,
    )  # fmt: skip


def test_confirmation_works_without_javascript_as_a_full_page(operator, rollout):
    html = operator.get(f"{PAGE}confirm/set_percent/?percent=5").content.decode()
    assert "<html" in html and 'name="reason"' in html and f'href="{PAGE}">Cancel' in html
