from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from rollouts.models import Agent, Rollout
from shadow.models import ApiKey
from tests.factories import AgentFactory
from tests.shadow.test_ingest_api import item, post


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_api_key_prints_a_working_key_last(db, client):
    AgentFactory(slug="support-bot")
    token = (
        run("create_api_key", "--agent", "support-bot", "--scopes", "read").strip().splitlines()[-1]
    )
    response = post(client, token, {"interactions": [item()]})
    assert response.status_code == 403  # authenticated, but read-only


def test_create_api_key_stores_only_a_hash(db):
    AgentFactory(slug="support-bot")
    token = run("create_api_key", "--agent", "support-bot").strip()
    key = ApiKey.objects.get()
    assert token.split("_", 2)[2] not in key.secret_hash


def test_create_api_key_for_unknown_agent_fails_clearly(db):
    with pytest.raises(CommandError, match="no agent"):
        run("create_api_key", "--agent", "ghost")


def test_create_api_key_rejects_unknown_scope(db):
    AgentFactory(slug="support-bot")
    with pytest.raises(CommandError, match="scopes"):
        run("create_api_key", "--agent", "support-bot", "--scopes", "admin")


def test_seed_demo_creates_agent_rollout_and_role_users(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    run("seed_demo")
    rollout = Rollout.objects.get(agent__slug="support-bot")
    assert (rollout.production.name, rollout.candidate.name) == ("v1", "v2")
    assert set(User.objects.values_list("username", flat=True)) >= {
        "operator",
        "reviewer",
        "viewer",
    }


def test_seed_demo_is_idempotent_and_keeps_its_key(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first = run("seed_demo").strip()
    second = run("seed_demo").strip()
    assert first == second and Agent.objects.count() == 1


def test_seed_demo_users_log_in_with_demo_password(db, settings, tmp_path, client):
    settings.VAR_DIR = tmp_path
    run("seed_demo")
    assert client.login(username="operator", password=settings.DEMO_PASSWORD)
