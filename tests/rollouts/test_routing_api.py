import pytest

from rollouts.services import rollout_set_percent
from tests.factories import AgentFactory, RolloutFactory, api_key_for, user_with_role


@pytest.fixture
def rollout(db):
    return RolloutFactory(agent=AgentFactory(slug="support-bot"), salt="gr1")


@pytest.fixture
def token(rollout):
    return api_key_for(rollout.agent, scopes=["routing"])


def get(client, token, path="/api/v1/agents/support-bot/routing", **headers):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def test_routing_returns_the_spec_fields(client, token, rollout):
    body = get(client, token).json()
    assert body == {
        "agent": "support-bot",
        "production": "v1",
        "candidate": "v2",
        "candidate_percent": 0,
        "shadow_percent": 100,
        "salt": "gr1",
        "revision": rollout.revision,
        "updated_at": rollout.updated_at.isoformat(),
    }


def test_routing_etag_is_the_revision(client, token, rollout):
    assert get(client, token)["ETag"] == f'"{rollout.revision}"'


def test_if_none_match_with_current_revision_answers_304(client, token, rollout):
    response = get(client, token, HTTP_IF_NONE_MATCH=f'"{rollout.revision}"')
    assert (response.status_code, response.content) == (304, b"")


def test_if_none_match_accepts_an_unquoted_revision(client, token, rollout):
    assert get(client, token, HTTP_IF_NONE_MATCH=str(rollout.revision)).status_code == 304


def test_a_change_makes_the_old_etag_stale(client, token, rollout):
    old = get(client, token)["ETag"]
    rollout_set_percent(
        rollout=rollout,
        user=user_with_role("operator"),
        expected_revision=rollout.revision,
        reason="ramp",
        percent=5,
    )
    response = get(client, token, HTTP_IF_NONE_MATCH=old)
    assert (response.status_code, response.json()["candidate_percent"]) == (200, 5)


def test_routing_needs_the_routing_scope(client, rollout):
    token = api_key_for(rollout.agent, scopes=["ingest"])
    assert get(client, token).status_code == 403


def test_routing_of_another_agent_is_forbidden(client, rollout):
    other = RolloutFactory(agent=AgentFactory(slug="other-bot"))
    token = api_key_for(other.agent, scopes=["routing"])
    assert get(client, token).status_code == 403


def test_routing_without_a_key_is_unauthorized(client, rollout):
    assert client.get("/api/v1/agents/support-bot/routing").status_code == 401


def test_agent_without_rollout_answers_404_with_detail(client, db):
    agent = AgentFactory(slug="fresh-bot")
    token = api_key_for(agent, scopes=["routing"])
    response = get(client, token, path="/api/v1/agents/fresh-bot/routing")
    assert (response.status_code, "no rollout" in response.json()["detail"]) == (404, True)
