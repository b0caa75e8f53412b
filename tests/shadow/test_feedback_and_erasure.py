import json

import pytest

from evaluations.models import Flag
from shadow.models import Feedback, Interaction, Response
from tests.factories import AgentFactory, api_key_for
from tests.shadow.test_ingest_api import item, post


@pytest.fixture
def agent(db):
    return AgentFactory(slug="support-bot")


@pytest.fixture
def token(agent):
    return api_key_for(agent)


def feedback(client, token, **body):
    payload = {"interaction": "req-1", "agent": "support-bot", "score": -1, "comment": "wrong"}
    payload.update(body)
    return client.post(
        "/api/v1/feedback",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_thumbs_down_is_recorded_on_the_served_response(client, token):
    post(client, token, {"interactions": [item()]})
    feedback(client, token)
    stored = Feedback.objects.get()
    assert (stored.score, stored.response.served) == (-1, True)


def test_thumbs_down_opens_a_flag(client, token):
    post(client, token, {"interactions": [item()]})
    feedback(client, token)
    assert Flag.objects.filter(rule="thumbs_down", status="open").count() == 1


def test_thumbs_up_opens_no_flag(client, token):
    post(client, token, {"interactions": [item()]})
    feedback(client, token, score=1)
    assert not Flag.objects.exists()


def test_feedback_for_unknown_interaction_is_404(client, token):
    assert feedback(client, token, interaction="nope").status_code == 404


def test_feedback_score_outside_range_is_422(client, token):
    post(client, token, {"interactions": [item()]})
    response = feedback(client, token, score=5)
    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "score")


def test_feedback_for_other_agent_is_403(client, token):
    AgentFactory(slug="other-bot")
    assert feedback(client, token, agent="other-bot").status_code == 403


def test_user_erasure_deletes_only_that_users_interactions(client, token):
    post(
        client,
        token,
        {"interactions": [item("a", user="u-1"), item("b", user="u-1"), item("c", user="u-2")]},
    )
    response = client.delete(
        "/api/v1/users/u-1/data?agent=support-bot", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.json() == {"deleted": 2}
    assert list(Interaction.objects.values_list("external_id", flat=True)) == ["c"]


def test_user_erasure_removes_responses_too(client, token):
    post(client, token, {"interactions": [item("a", user="u-1")]})
    client.delete("/api/v1/users/u-1/data?agent=support-bot", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert Response.objects.count() == 0


def test_user_erasure_for_other_agent_is_403(client, token):
    AgentFactory(slug="other-bot")
    response = client.delete(
        "/api/v1/users/u-1/data?agent=other-bot", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 403
