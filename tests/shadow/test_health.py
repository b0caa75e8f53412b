import pytest

from config.celery_app import app as celery_app


@pytest.fixture
def broken_broker():
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    celery_app._pool = None
    yield
    celery_app.conf.broker_url = original
    celery_app._pool = None


def test_healthz_is_200_when_database_and_broker_answer(client, db):
    response = client.get("/healthz")
    assert (response.status_code, response.json()["status"]) == (200, "ok")


def test_healthz_is_503_naming_the_broker_when_it_is_down(client, db, broken_broker):
    response = client.get("/healthz")
    assert (response.status_code, response.json()["down"]) == (503, ["broker"])
