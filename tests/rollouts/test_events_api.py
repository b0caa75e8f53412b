"""GET /api/v1/events: cursor pagination over the key's agent's events only."""

import pytest
from django.test import Client

from tests.factories import AgentFactory, api_key_for
from tests.rollouts.event_fixtures import publish

URL = "/api/v1/events"


@pytest.fixture
def agent(db):
    return AgentFactory(slug="support-bot")


def get(token, **params):
    return Client().get(URL, params, HTTP_AUTHORIZATION=f"Bearer {token}")


def sequences(response) -> list[int]:
    return [e["sequence"] for e in response.json()["events"]]


def test_first_page_starts_at_the_oldest_event(agent):
    for _ in range(3):
        publish(agent)
    assert sequences(get(api_key_for(agent), limit=2)) == [1, 2]


def test_following_next_after_walks_every_event_once(agent):
    for _ in range(5):
        publish(agent)
    token = api_key_for(agent)
    seen, after = [], None
    for _ in range(5):
        page = get(token, limit=2, **({"after": after} if after else {})).json()
        seen += [e["sequence"] for e in page["events"]]
        after = page["next_after"]
        if not page["has_more"]:
            break
    assert seen == [1, 2, 3, 4, 5]


def test_last_page_says_there_is_no_more(agent):
    first = publish(agent)
    publish(agent)
    page = get(api_key_for(agent), after=str(first.id)).json()
    assert (page["has_more"], len(page["events"])) == (False, 1)


def test_caught_up_consumer_keeps_its_cursor(agent):
    last = publish(agent)
    page = get(api_key_for(agent), after=str(last.id)).json()
    assert (page["events"], page["next_after"]) == ([], str(last.id))


def test_event_carries_id_type_agent_time_and_payload(agent):
    event = publish(agent, type="version.promoted", production="v2")
    [body] = get(api_key_for(agent)).json()["events"]
    assert (body["id"], body["type"], body["agent"], body["payload"]) == (
        str(event.id),
        "version.promoted",
        "support-bot",
        {"production": "v2"},
    )


def test_other_agents_events_are_never_listed(agent):
    other = AgentFactory(slug="other-bot")
    publish(other)
    publish(agent)
    publish(other)
    body = get(api_key_for(agent)).json()
    assert {e["agent"] for e in body["events"]} == {"support-bot"}


def test_cursor_from_another_agent_is_not_found(agent):
    foreign = publish(AgentFactory(slug="other-bot"))
    assert get(api_key_for(agent), after=str(foreign.id)).status_code == 404


def test_read_scope_is_required(agent):
    assert get(api_key_for(agent, scopes=["ingest"])).status_code == 403


def test_missing_key_is_unauthorized(agent):
    assert Client().get(URL).status_code == 401


@pytest.mark.parametrize("params", [{"after": "not-a-cursor"}, {"limit": 0}, {"limit": 5000}])
def test_invalid_cursor_or_limit_is_a_bad_request(agent, params):
    assert get(api_key_for(agent), **params).status_code == 400
