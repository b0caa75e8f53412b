import pytest

from tests.factories import AgentFactory, RolloutFactory, api_key_for
from tests.rollouts.factories import pairwise_evidence, passing_evidence

URL = "/api/v1/agents/support-bot/gate"


@pytest.fixture
def rollout(db):
    return RolloutFactory(agent=AgentFactory(slug="support-bot"))


@pytest.fixture
def token(rollout):
    return api_key_for(rollout.agent, scopes=["read"])


def get(client, token, query=""):
    return client.get(URL + query, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_gate_answers_status_checks_sample_size_and_time(client, token, rollout):
    passing_evidence(rollout)
    body = get(client, token).json()
    assert (body["status"], body["sample_size"], {"evaluated_at", "checks"} <= set(body)) == (
        "pass",
        1000,
        True,
    )


def test_each_check_has_name_status_value_threshold_detail(client, token, rollout):
    passing_evidence(rollout)
    check = get(client, token).json()["checks"][1]
    assert {"name", "status", "value", "threshold", "detail"} <= set(check)


def test_strict_passing_gate_answers_200(client, token, rollout):
    passing_evidence(rollout)
    assert get(client, token, "?strict=1").status_code == 200


def test_strict_failing_gate_answers_412_with_the_checks(client, token, rollout):
    pairwise_evidence(rollout, wins=100, ties=100, losses=800)
    response = get(client, token, "?strict=1")
    assert (response.status_code, response.json()["status"]) == (412, "fail")


def test_strict_inconclusive_gate_answers_412(client, token, rollout):
    assert get(client, token, "?strict=1").status_code == 412


def test_without_strict_a_failing_gate_still_answers_200(client, token, rollout):
    pairwise_evidence(rollout, wins=100, ties=100, losses=800)
    assert get(client, token).status_code == 200


def test_gate_needs_the_read_scope(client, rollout):
    token = api_key_for(rollout.agent, scopes=["routing"])
    assert get(client, token).status_code == 403


def test_gate_of_another_agent_is_forbidden(client, rollout):
    other = RolloutFactory(agent=AgentFactory(slug="other-bot"))
    assert get(client, api_key_for(other.agent, scopes=["read"])).status_code == 403


def test_gate_is_documented_in_openapi(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/agents/{slug}/gate" in paths and "/api/v1/agents/{slug}/routing" in paths
