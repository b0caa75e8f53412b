import asyncio
import threading
import time

import pytest
from shadowstage_client import Recorder, Router, ShadowPool, arun_with_shadow, run_with_shadow

from rollouts.models import Rollout
from shadow.models import Interaction as StoredInteraction
from shadow.models import Response as StoredResponse
from tests.conftest import wait_until
from tests.sdk.conftest import AGENT


@pytest.fixture
def release():
    """Set at teardown so shadows left hanging by a test end with it."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def sdk(live_url, rollout, token, tmp_path):
    router = Router(base_url=live_url, api_key=token, agent=AGENT, backup_path=tmp_path / "r.json")
    recorder = Recorder(base_url=live_url, api_key=token, agent=AGENT, flush_seconds=0.1)
    yield router, recorder
    recorder.close()
    router.close()


def production(question: str) -> str:
    return f"production: {question}"


def candidate(question: str) -> str:
    return f"candidate: {question}"


def run(sdk, **kwargs):
    router, recorder = sdk
    kwargs.setdefault("production", production)
    kwargs.setdefault("shadow", candidate)
    kwargs.setdefault("input", "Where is my order?")
    kwargs.setdefault("user", "user-1")
    kwargs.setdefault("interaction_id", "req-1")
    return run_with_shadow(router=router, recorder=recorder, **kwargs)


def stored_response(version: str, external_id: str = "req-1") -> StoredResponse:
    return wait_until(
        lambda: StoredResponse.objects.filter(
            interaction__external_id=external_id, version__name=version
        ).first(),
        timeout=30,
    )


def test_hanging_shadow_does_not_delay_production(sdk, release):
    started = time.perf_counter()
    result = run(sdk, shadow=lambda q: release.wait(10), shadow_timeout=5)
    elapsed = time.perf_counter() - started
    assert (result, elapsed < 0.5) == ("production: Where is my order?", True)


def test_hanging_shadow_is_recorded_as_timeout(sdk, release):
    run(sdk, shadow=lambda q: release.wait(10), shadow_timeout=0.5)
    assert stored_response("v2").error.startswith("timeout")


def test_raising_shadow_still_returns_production(sdk):
    def broken(question: str) -> str:
        raise RuntimeError("candidate crashed")

    assert run(sdk, shadow=broken) == "production: Where is my order?"


def test_raising_shadow_is_recorded_as_its_error(sdk):
    def broken(question: str) -> str:
        raise RuntimeError("candidate crashed")

    run(sdk, shadow=broken)
    assert stored_response("v2").error == "RuntimeError: candidate crashed"


def test_both_responses_are_recorded_with_latency(sdk):
    def slow_production(question: str) -> str:
        time.sleep(0.1)
        return "p"

    def slower_candidate(question: str) -> str:
        time.sleep(0.2)
        return "c"

    run(sdk, production=slow_production, shadow=slower_candidate)
    served, shadow = stored_response("v1"), stored_response("v2")
    assert (served.served, served.latency_ms >= 100, shadow.served, shadow.latency_ms >= 200) == (
        True,
        True,
        False,
        True,
    )


def test_production_exception_reaches_the_caller(sdk):
    def down(question: str) -> str:
        raise ConnectionError("model provider down")

    with pytest.raises(ConnectionError):
        run(sdk, production=down)


def test_production_exception_is_recorded(sdk):
    def down(question: str) -> str:
        raise ConnectionError("model provider down")

    with pytest.raises(ConnectionError):
        run(sdk, production=down)
    assert stored_response("v1").error == "ConnectionError: model provider down"


@pytest.fixture
def candidate_for_everyone(rollout):
    Rollout.objects.filter(pk=rollout.pk).update(candidate_percent=100)


def test_candidate_users_are_served_by_the_candidate(candidate_for_everyone, sdk):
    result = run(sdk)
    served = stored_response("v2")
    assert (result, served.served, served.output) == (
        "candidate: Where is my order?",
        True,
        "candidate: Where is my order?",
    )


def test_candidate_users_get_production_in_shadow(candidate_for_everyone, sdk):
    run(sdk)
    assert stored_response("v1").served is False


def test_opt_out_runs_no_shadow(sdk):
    calls = []
    run(sdk, shadow=calls.append, opt_out=True)
    stored_response("v1")
    assert calls == []


def test_opt_out_sends_no_text(sdk):
    run(sdk, opt_out=True)
    stored_response("v1")
    interaction = StoredInteraction.objects.get()
    assert (interaction.input, interaction.user_ref, interaction.responses.get().output) == (
        "",
        "",
        "",
    )


def test_saturated_shadow_pool_skips_shadows_but_serves_production(sdk, release):
    pool = ShadowPool(max_workers=1, max_pending=1)
    run(sdk, shadow=lambda q: release.wait(10), pool=pool, interaction_id="first")
    result = run(sdk, pool=pool, interaction_id="second")
    stored_response("v1", external_id="second")
    assert (
        result,
        pool.skipped,
        StoredResponse.objects.filter(interaction__external_id="second").count(),
    ) == (
        "production: Where is my order?",
        1,
        1,
    )


def test_async_variant_returns_production_without_waiting_for_shadow(sdk):
    router, recorder = sdk

    async def slow_candidate(question: str) -> str:
        await asyncio.sleep(10)
        return "late"

    async def async_production(question: str) -> str:
        return f"async production: {question}"

    async def call() -> tuple[str, float]:
        started = time.perf_counter()
        result = await arun_with_shadow(
            production=async_production,
            shadow=slow_candidate,
            input="hi",
            user="user-1",
            router=router,
            recorder=recorder,
            interaction_id="req-1",
            shadow_timeout=0.3,
        )
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.6)  # let the shadow time out inside the loop
        return result, elapsed

    result, elapsed = asyncio.run(call())
    assert (result, elapsed < 0.2) == ("async production: hi", True)


def test_async_variant_records_shadow_timeout(sdk):
    router, recorder = sdk

    async def slow_candidate(question: str) -> str:
        await asyncio.sleep(10)
        return "late"

    async def call() -> None:
        await arun_with_shadow(
            production=production,
            shadow=slow_candidate,
            input="hi",
            user="user-1",
            router=router,
            recorder=recorder,
            interaction_id="req-1",
            shadow_timeout=0.3,
        )
        await asyncio.sleep(0.6)

    asyncio.run(call())
    assert stored_response("v2").error.startswith("timeout")
