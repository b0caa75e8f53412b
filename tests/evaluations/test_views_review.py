from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from evaluations.models import Flag, Review, Score
from evaluations.review import judge_agreement
from evaluations.services import FlagNotReviewable, flag_review
from evaluations.stats import cohens_kappa
from tests.evaluations.dashboard_support import demo_rollout, open_flag, scored_pair
from tests.factories import user_with_role


@pytest.fixture
def rollout(db):
    return demo_rollout()


def pair(rollout, **kwargs):
    defaults = {"production_value": 0.8, "candidate_value": 0.3, "verdict": "loss"}
    return scored_pair(rollout, **{**defaults, **kwargs})


def logged_in(role: str) -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client


def queue_ids(client: Client, **params) -> list[int]:
    response = client.get("/review/", params)
    return [item["flag"].pk for item in response.context["items"]]


def test_queue_puts_most_severe_first_then_oldest(rollout):
    low = open_flag(pair(rollout), severity="low")
    old_high = open_flag(pair(rollout), severity="high")
    new_high = open_flag(pair(rollout), severity="high")
    Flag.objects.filter(pk=old_high.pk).update(created_at=timezone.now() - timedelta(hours=1))
    critical = open_flag(pair(rollout), severity="critical")
    assert queue_ids(logged_in("reviewer")) == [critical.pk, old_high.pk, new_high.pk, low.pk]


def test_queue_filters_by_rule(rollout):
    open_flag(pair(rollout), rule="refusal")
    wanted = open_flag(pair(rollout), rule="pii_leak")
    assert queue_ids(logged_in("reviewer"), rule="pii_leak") == [wanted.pk]


def test_confirm_stores_a_review_with_reviewer(rollout):
    flag = open_flag(pair(rollout))
    client = logged_in("reviewer")
    client.post(f"/review/{flag.pk}/", {"decision": "confirmed", "note": "leaks an email"})
    review = Review.objects.get(flag=flag)
    assert (review.decision, review.reviewer.username, review.note) == (
        "confirmed",
        "reviewer-user",
        "leaks an email",
    )


def test_decided_flag_leaves_the_open_queue(rollout):
    flag = open_flag(pair(rollout))
    client = logged_in("reviewer")
    client.post(f"/review/{flag.pk}/", {"decision": "dismissed"})
    assert queue_ids(client) == []


def test_htmx_decision_answers_with_an_empty_body(rollout):
    flag = open_flag(pair(rollout))
    response = logged_in("reviewer").post(
        f"/review/{flag.pk}/", {"decision": "dismissed"}, headers={"HX-Request": "true"}
    )
    assert (response.status_code, response.content) == (200, b"")


def test_escalated_flag_moves_to_the_escalated_tab(rollout):
    flag = open_flag(pair(rollout))
    client = logged_in("reviewer")
    client.post(f"/review/{flag.pk}/", {"decision": "escalated", "note": "needs legal"})
    assert queue_ids(client, tab="escalated") == [flag.pk]


def test_reviewer_may_not_decide_an_escalated_flag(rollout):
    flag = open_flag(pair(rollout), status=Flag.Status.ESCALATED)
    response = logged_in("reviewer").post(f"/review/{flag.pk}/", {"decision": "dismissed"})
    assert response.status_code == 403


def test_operator_resolves_an_escalated_flag(rollout):
    flag = open_flag(pair(rollout), status=Flag.Status.ESCALATED)
    logged_in("operator").post(f"/review/{flag.pk}/", {"decision": "confirmed"})
    flag.refresh_from_db()
    assert flag.status == Flag.Status.CONFIRMED


def test_viewer_sees_no_decision_buttons(rollout):
    open_flag(pair(rollout))
    html = logged_in("viewer").get("/review/").content.decode()
    assert 'name="decision"' not in html


def test_viewer_post_is_refused(rollout):
    flag = open_flag(pair(rollout))
    response = logged_in("viewer").post(f"/review/{flag.pk}/", {"decision": "dismissed"})
    assert response.status_code == 403


def test_viewer_bulk_post_is_refused(rollout):
    flag = open_flag(pair(rollout))
    response = logged_in("viewer").post(
        "/review/bulk/", {"decision": "dismissed", "flags": [flag.pk]}
    )
    assert response.status_code == 403


def test_post_without_csrf_token_is_refused(rollout):
    flag = open_flag(pair(rollout))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with_role("reviewer"))
    response = client.post(f"/review/{flag.pk}/", {"decision": "dismissed"})
    assert response.status_code == 403


def test_bulk_dismiss_decides_every_selected_flag(rollout):
    flags = [open_flag(pair(rollout)) for _ in range(3)]
    logged_in("reviewer").post(
        "/review/bulk/", {"decision": "dismissed", "flags": [f.pk for f in flags]}
    )
    assert Flag.objects.filter(status=Flag.Status.DISMISSED).count() == 3


def test_bulk_skips_flags_decided_meanwhile(rollout):
    decided = open_flag(pair(rollout), status=Flag.Status.CONFIRMED)
    waiting = open_flag(pair(rollout))
    logged_in("reviewer").post(
        "/review/bulk/", {"decision": "dismissed", "flags": [decided.pk, waiting.pk]}
    )
    decided.refresh_from_db()
    assert decided.status == Flag.Status.CONFIRMED


def test_second_decision_on_the_same_flag_is_refused(rollout):
    flag = open_flag(pair(rollout))
    flag_review(flag=flag, user=user_with_role("reviewer"), decision="confirmed")
    with pytest.raises(FlagNotReviewable):
        flag_review(flag=flag, user=None, decision="dismissed")


def test_htmx_decision_on_a_decided_flag_conflicts(rollout):
    flag = open_flag(pair(rollout), status=Flag.Status.DISMISSED)
    response = logged_in("reviewer").post(
        f"/review/{flag.pk}/", {"decision": "confirmed"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 409


def test_redirect_after_decision_stays_on_this_site(rollout):
    flag = open_flag(pair(rollout))
    response = logged_in("reviewer").post(
        f"/review/{flag.pk}/", {"decision": "dismissed", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/review/"


def test_review_publishes_a_flag_reviewed_event(rollout):
    from rollouts.models import Event

    flag = open_flag(pair(rollout))
    flag_review(flag=flag, user=user_with_role("reviewer"), decision="dismissed")
    assert Event.objects.filter(type="flag.reviewed").count() == 1


def test_queue_shows_agent_output_as_text(rollout):
    interaction = pair(rollout, candidate_output="<script>alert(1)</script>")
    open_flag(interaction)
    html = logged_in("reviewer").get("/review/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html


def test_agreement_is_cohens_kappa_of_judge_flags_against_reviews(rollout):
    outcomes = [  # (candidate score, reviewer decision)
        (0.2, "confirmed"),
        (0.3, "confirmed"),
        (0.9, "dismissed"),
        (0.1, "dismissed"),
        (0.8, "dismissed"),
        (0.7, "confirmed"),
    ]
    reviewer = user_with_role("reviewer")
    for value, decision in outcomes:
        interaction = pair(rollout, candidate_value=value, verdict="tie")
        flag_review(
            flag=open_flag(interaction, rule="thumbs_down"), user=reviewer, decision=decision
        )
    rubric_id = Score.objects.filter(judge__name="rubric").values_list("judge_id", flat=True)[0]
    expected = cohens_kappa(
        pairs=[
            ("flag" if v < 0.5 else "ok", "flag" if d == "confirmed" else "ok") for v, d in outcomes
        ]
    )
    assert judge_agreement()[rubric_id]["kappa"] == pytest.approx(expected)
