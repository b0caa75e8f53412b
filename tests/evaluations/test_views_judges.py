import pytest
from django.test import Client
from django.utils import timezone

from evaluations.services import flag_review
from tests.evaluations.dashboard_support import demo_rollout, judges_for, open_flag, scored_pair
from tests.factories import user_with_role


@pytest.fixture
def paused_judge(db):
    rollout = demo_rollout()
    rubric, _ = judges_for(rollout)
    rubric.paused_reason = "judge endpoint refused the API key (401)"
    rubric.paused_at = timezone.now()
    rubric.save()
    return rubric


def logged_in(role: str) -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client


def test_judges_page_shows_the_pause_reason(paused_judge):
    html = logged_in("viewer").get("/judges/").content.decode()
    assert "refused the API key (401)" in html


def test_operator_sees_a_resume_button(paused_judge):
    html = logged_in("operator").get("/judges/").content.decode()
    assert f"/judges/{paused_judge.pk}/resume/" in html


def test_reviewer_sees_no_resume_button(paused_judge):
    html = logged_in("reviewer").get("/judges/").content.decode()
    assert f"/judges/{paused_judge.pk}/resume/" not in html


def test_operator_resume_clears_the_pause(paused_judge):
    logged_in("operator").post(f"/judges/{paused_judge.pk}/resume/")
    paused_judge.refresh_from_db()
    assert paused_judge.paused_reason == ""


def test_reviewer_resume_is_refused(paused_judge):
    response = logged_in("reviewer").post(f"/judges/{paused_judge.pk}/resume/")
    assert response.status_code == 403


def test_agreement_column_shows_the_number_of_reviewed_responses(db):
    rollout = demo_rollout()
    reviewer = user_with_role("reviewer")
    for value, decision in ((0.2, "confirmed"), (0.9, "dismissed"), (0.3, "dismissed")):
        interaction = scored_pair(
            rollout, production_value=0.5, candidate_value=value, verdict="tie"
        )
        flag_review(flag=open_flag(interaction), user=reviewer, decision=decision)
    html = logged_in("viewer").get("/judges/").content.decode()
    assert "n=3 reviewed" in html


def test_judges_page_without_judges_explains_how_to_add_them(db):
    html = logged_in("viewer").get("/judges/").content.decode()
    assert "No judges configured" in html
