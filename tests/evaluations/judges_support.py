"""Shared pieces of the judges tests: stand-in rows, the fake judge endpoint, ingest helpers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI

FAKE_MODEL = "fake-judge"
# Non-zero prices so tests can see cost being recorded (the fake model has no list price).
PRICES = {"price_in_per_1k": 0.01, "price_out_per_1k": 0.02}


def interaction(
    input: str = "How do I reset my password?",
    *,
    slices: list[str] | None = None,
    metadata: dict | None = None,
    opt_out: bool = False,
    **extra: Any,
) -> SimpleNamespace:
    return SimpleNamespace(
        input=input,
        slices=slices or [],
        metadata=metadata or {},
        opt_out=opt_out,
        external_id="req-1",
        **extra,
    )


def response(
    output: str = "Use the 'Forgot password' link on the sign-in page.",
    *,
    latency_ms: int | None = 800,
    tokens_in: int | None = 100,
    tokens_out: int | None = 50,
    cost_usd: float | None = 0.001,
    served: bool = True,
) -> SimpleNamespace:
    return SimpleNamespace(
        output=output,
        latency_ms=latency_ms,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost_usd,
        served=served,
        error="",
    )


def llm_params(server: FakeOpenAI, **extra: Any) -> dict:
    """Judge params pointing at the fake server: workers read them from the database."""
    return {"base_url": server.base_url, "api_key": "k", "model": FAKE_MODEL, **PRICES, **extra}


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.start() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> FakeOpenAI:
    fake_server.reset()
    return fake_server


def batch_item(
    external_id: str,
    *,
    input: str = "How do I reset my password?",
    production: str | None = "Use the 'Forgot password' link on the sign-in page.",
    candidate: str | None = "Click 'Forgot password' on the sign-in page and follow the email.",
    agent: str,
    metadata: dict | None = None,
    error: str | None = None,
) -> dict:
    """One interaction of an ingest batch: v1 served, v2 in shadow."""
    responses = []
    if production is not None:
        responses.append(_answer("v1", True, production, error))
    if candidate is not None:
        responses.append(_answer("v2", False, candidate, None))
    return {
        "id": external_id,
        "agent": agent,
        "timestamp": datetime.now(UTC).isoformat(),
        "input": input,
        "metadata": metadata or {},
        "responses": responses,
    }


def _answer(version: str, served: bool, output: str, error: str | None) -> dict:
    return {
        "version": version,
        "served": served,
        "output": output,
        "latency_ms": 700,
        "tokens_in": 120,
        "tokens_out": 60,
        "cost_usd": 0.001,
        "error": error,
    }


def post_batch(client, *, token: str, items: list[dict]) -> None:
    response = client.post(
        "/api/v1/interactions",
        data={"interactions": items},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.content


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.25, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout}s")


def workers_ready(*, count: int = 1, timeout: float = 180) -> None:
    """Wait until ``count`` workers answer a ping on our broker.

    A started process is not yet consuming (and a busy machine makes startup slow), so tests
    that time their faults wait for the worker itself to answer.
    """
    from config.celery_app import app

    wait_for(
        lambda: len(app.control.ping(timeout=1.0)) >= count,
        timeout=timeout,
        interval=0.5,
        message=f"{count} celery worker(s) not answering after {timeout}s",
    )


@pytest.fixture
def ready_worker(celery_worker):
    workers_ready(count=1)
    return celery_worker


# --- a private Redis for tests that stop it ---


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery producer at another broker for the duration."""
    from config.celery_app import app

    def reset() -> None:
        # Only forget the pools: kombu keeps them per broker URL, and closing one would
        # leave later tests acquiring from a closed pool.
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url
    reset()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url = previous


class PrivateRedis:
    """A redis-server of the test's own on a free port, so stopping it disturbs nobody."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "yes", "--logfile", ""],
            check=True,
        )  # fmt: skip
        wait_for(self._up, timeout=10, message="private redis did not start")

    def stop(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
            capture_output=True,
            check=False,
        )
        wait_for(lambda: not self._up(), timeout=10, message="private redis did not stop")

    def _up(self) -> bool:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() == "PONG"


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
