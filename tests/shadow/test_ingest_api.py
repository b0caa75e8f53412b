import json
import threading

import pytest
from django.db import connection
from django.test import Client

from rollouts.models import AgentVersion
from shadow.models import ApiKey, Interaction, Response
from shadow.services import api_key_revoke
from tests.factories import AgentFactory, api_key_for

URL = "/api/v1/interactions"


def item(i="req-1", agent="support-bot", **overrides) -> dict:
    base = {
        "id": i,
        "agent": agent,
        "timestamp": "2026-11-24T10:00:00Z",
        "user": "u-123",
        "conversation": "c-9",
        "input": "How do I reset my password?",
        "metadata": {"channel": "web"},
        "responses": [
            {
                "version": "v1",
                "served": True,
                "output": "Use the reset link.",
                "latency_ms": 820,
                "tokens_in": 210,
                "tokens_out": 95,
                "cost_usd": 0.0012,
                "error": None,
            },
            {
                "version": "v2",
                "served": False,
                "output": "Click 'Forgot password'.",
                "latency_ms": 640,
                "tokens_in": 190,
                "tokens_out": 80,
                "cost_usd": 0.0009,
            },
        ],
    }
    base.update(overrides)
    return base


def post(client: Client, token: str | None, body, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers, **extra)


@pytest.fixture
def agent(db):
    return AgentFactory(slug="support-bot")


@pytest.fixture
def token(agent):
    return api_key_for(agent)


def test_batch_is_accepted_with_both_responses_stored(client, token):
    response = post(client, token, {"interactions": [item()]})
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert Response.objects.filter(interaction__external_id="req-1").count() == 2


def test_versions_are_registered_on_first_sight(client, token, agent):
    post(client, token, {"interactions": [item()]})
    assert set(AgentVersion.objects.filter(agent=agent).values_list("name", flat=True)) == {
        "v1",
        "v2",
    }


def test_user_is_stored_only_as_keyed_hash(client, token):
    post(client, token, {"interactions": [item()]})
    stored = Interaction.objects.get(external_id="req-1")
    assert stored.user_ref and "u-123" not in stored.user_ref


def test_same_batch_twice_reports_duplicates_and_stores_nothing_new(client, token):
    body = {"interactions": [item("a"), item("b")]}
    post(client, token, body)
    second = post(client, token, body)
    assert second.json() == {"accepted": 0, "duplicates": 2}
    assert Interaction.objects.count() == 2 and Response.objects.count() == 4


def test_new_version_response_for_known_id_is_added(client, token):
    post(client, token, {"interactions": [item()]})
    later = item(responses=[{"version": "v3", "served": False, "output": "Third answer"}])
    result = post(client, token, {"interactions": [later]})
    assert result.json() == {"accepted": 1, "duplicates": 0}
    assert Response.objects.filter(interaction__external_id="req-1").count() == 3


def test_opt_out_stores_no_text_and_no_user(client, token):
    post(client, token, {"interactions": [item(opt_out=True)]})
    stored = Interaction.objects.get(external_id="req-1")
    outputs = set(Response.objects.values_list("output", flat=True))
    assert (stored.input, stored.user_ref, stored.metadata, outputs) == ("", "", {}, {""})


def test_opt_out_keeps_metrics(client, token):
    post(client, token, {"interactions": [item(opt_out=True)]})
    assert sorted(Response.objects.values_list("latency_ms", flat=True)) == [640, 820]


def test_no_key_is_401(client, agent):
    assert post(client, None, {"interactions": [item()]}).status_code == 401


def test_unknown_key_is_401(client, agent):
    assert post(client, "ss_abc_def", {"interactions": [item()]}).status_code == 401


def test_revoked_key_is_401(client, agent, token):
    api_key_revoke(key=ApiKey.objects.get(agent=agent))
    assert post(client, token, {"interactions": [item()]}).status_code == 401


def test_key_without_ingest_scope_is_403(client, agent):
    token = api_key_for(agent, scopes=["read"])
    assert post(client, token, {"interactions": [item()]}).status_code == 403


def test_key_of_other_agent_is_403_and_nothing_stored(client, token):
    AgentFactory(slug="other-bot")
    body = {"interactions": [item("ok"), item("foreign", agent="other-bot")]}
    response = post(client, token, body)
    assert (response.status_code, Interaction.objects.count()) == (403, 0)


@pytest.mark.parametrize("count", [0, 1001])
def test_batch_size_out_of_range_is_400(client, token, count):
    response = post(client, token, {"interactions": [item(f"r{i}") for i in range(count)]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "interactions"


def test_body_over_5_mb_is_413(client, token):
    big = item(input="x" * (5 * 1024 * 1024 + 10))
    response = post(client, token, {"interactions": [big]})
    assert response.status_code == 413


def test_invalid_item_names_index_and_field_and_stores_nothing(client, token):
    bad = item("bad")
    bad["responses"][0]["latency_ms"] = -5
    response = post(client, token, {"interactions": [item("good"), bad]})
    assert response.status_code == 422
    assert response.json()["errors"][0] | {"message": ""} == {
        "index": 1,
        "field": "responses.0.latency_ms",
        "message": "",
    }
    assert Interaction.objects.count() == 0


def test_missing_field_is_422(client, token):
    bad = item()
    del bad["responses"]
    response = post(client, token, {"interactions": [bad]})
    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "responses")


def test_wrong_type_is_422(client, token):
    response = post(client, token, {"interactions": [item(opt_out="maybe")]})
    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "opt_out")


def test_two_served_responses_is_422(client, token):
    bad = item()
    bad["responses"][1]["served"] = True
    response = post(client, token, {"interactions": [bad]})
    assert response.status_code == 422
    assert "at most one response may be served" in response.json()["errors"][0]["message"]


def test_served_conflict_with_stored_data_is_422_and_batch_not_stored(client, token):
    post(client, token, {"interactions": [item("a")]})
    clash = item("a", responses=[{"version": "v3", "served": True, "output": "x"}])
    response = post(client, token, {"interactions": [item("fresh"), clash]})
    assert response.status_code == 422
    assert not Interaction.objects.filter(external_id="fresh").exists()


def test_malformed_json_is_422_with_clear_detail(client, token):
    response = post(client, token, "{not json")
    assert response.status_code in (400, 422)
    assert "JSON" in response.json()["detail"]


def test_one_megabyte_output_is_stored_intact(client, token):
    text = "ünïcødé 🚀 " * 95_000
    body = item(responses=[{"version": "v1", "served": True, "output": text}])
    post(client, token, {"interactions": [body]})
    assert Response.objects.get().output == text


def test_emoji_and_unicode_are_stored(client, token):
    post(client, token, {"interactions": [item(input="Où est mon colis? 📦 配送")]})
    assert Interaction.objects.get().input == "Où est mon colis? 📦 配送"


def test_text_with_tabs_newlines_and_backslashes_is_stored_exactly(client, token):
    # Rows travel by COPY: its own delimiters and escapes must come back untouched.
    tricky = "col\tumn\nnext line\r\n back\\slash \\N \\. end"
    meta = {"note": tricky, "nested": {"k\t": ["\\", "\n"]}}
    body = item(
        input=tricky,
        metadata=meta,
        responses=[{"version": "v1", "served": True, "output": tricky, "error": tricky}],
    )
    assert post(client, token, {"interactions": [body]}).status_code == 202
    stored = Interaction.objects.get()
    answer = stored.responses.get()
    assert (stored.input, stored.metadata) == (tricky, meta)
    assert (answer.output, answer.error) == (tricky, tricky)


def test_batch_mixing_new_known_and_repeated_ids(client, token):
    post(client, token, {"interactions": [item("old")]})
    later = item("old", responses=[{"version": "v3", "served": False, "output": "third"}])
    result = post(client, token, {"interactions": [later, item("new"), item("new")]})
    assert result.json() == {"accepted": 2, "duplicates": 1}
    counts = {
        i.external_id: i.responses.count() for i in Interaction.objects.order_by("external_id")
    }
    assert counts == {"new": 2, "old": 3}


def test_two_batches_in_one_transaction_are_stored_separately(agent):
    from django.db import transaction

    from shadow.schemas import InteractionIn
    from shadow.services import interactions_ingest

    first = [InteractionIn.model_validate(item(f"a{i}")) for i in range(3)]
    second = [InteractionIn.model_validate(item(f"b{i}")) for i in range(2)]
    with transaction.atomic():
        one = interactions_ingest(agent=agent, items=first)
        two = interactions_ingest(agent=agent, items=second)
    assert (one.accepted, two.accepted) == (3, 2)
    assert set(one.interaction_ids).isdisjoint(two.interaction_ids)
    assert Interaction.objects.count() == 5 and Response.objects.count() == 10


def test_nul_byte_is_rejected_with_clear_error(client, token):
    response = post(client, token, {"interactions": [item(input="abc\u0000def")]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "input"
    assert "NUL" in response.json()["errors"][0]["message"]


def test_rate_cap_returns_429_with_retry_after(client, token, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    statuses = [
        post(client, token, {"interactions": [item(f"r{i}")]}).status_code for i in range(3)
    ]
    last = post(client, token, {"interactions": [item("r9")]})
    assert statuses[:2] == [202, 202] and last.status_code == 429
    assert int(last["Retry-After"]) >= 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_batches_create_no_duplicates():
    agent = AgentFactory(slug="support-bot")
    token = api_key_for(agent)
    results = []

    def send(ids):
        c = Client()
        results.append(post(c, token, {"interactions": [item(i) for i in ids]}).status_code)
        connection.close()

    ids_a = [f"r{i}" for i in range(0, 300)]
    ids_b = [f"r{i}" for i in range(150, 450)]
    threads = [threading.Thread(target=send, args=(ids,)) for ids in (ids_a, ids_b, ids_a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202, 202, 202]
    assert Interaction.objects.count() == 450 and Response.objects.count() == 900


def test_first_served_version_becomes_production_with_an_audited_event(client, token, agent):
    from rollouts.models import Rollout

    post(client, token, {"interactions": [item()]})
    rollout = Rollout.objects.get(agent=agent)
    assert (rollout.production.name, rollout.candidate.name, rollout.revision) == ("v1", "v2", 2)
    assert rollout.events.get().actor_name == "system"
