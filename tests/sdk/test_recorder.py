import subprocess
import sys
import textwrap
import time

import httpx
from shadowstage_client import Backoff, Interaction, Recorder, Response, Router, run_with_shadow

from shadow.models import Feedback
from shadow.models import Interaction as StoredInteraction
from shadow.models import Response as StoredResponse
from tests.conftest import ROOT, wait_until
from tests.sdk.conftest import AGENT

FAST_RETRY = Backoff(base_seconds=0.1, cap_seconds=1.0)


def interaction(n: int, **overrides) -> Interaction:
    fields = {
        "id": f"it-{n}",
        "input": f"question {n}",
        "user": f"user-{n % 7}",
        "responses": [
            Response(version="v1", served=True, output=f"answer {n}", latency_ms=120),
            Response(version="v2", served=False, output=f"other answer {n}", latency_ms=90),
        ],
    }
    return Interaction(**(fields | overrides))


def recorder_for(url: str, token: str, **kwargs) -> Recorder:
    kwargs.setdefault("flush_seconds", 0.1)
    kwargs.setdefault("backoff", FAST_RETRY)
    return Recorder(base_url=url, api_key=token, agent=AGENT, **kwargs)


def stored() -> int:
    return StoredInteraction.objects.count()


def test_recorded_interactions_arrive_exactly_once(live_url, agent, token):
    with recorder_for(live_url, token) as recorder:
        for n in range(1200):
            recorder.record(interaction(n))
        wait_until(lambda: recorder.stats().sent == 1200, timeout=60)
        stats = recorder.stats()
    assert (stored(), stats.accepted, stats.duplicates) == (1200, 1200, 0)


def test_plain_dicts_are_recorded_too(live_url, agent, token):
    body = {"id": "dict-1", "input": "hi", "responses": [{"version": "v1", "served": True}]}
    with recorder_for(live_url, token) as recorder:
        recorder.record(body)
        wait_until(lambda: stored() == 1, timeout=30)


def serve(n: int, *, router: Router, recorder: Recorder) -> str:
    return run_with_shadow(
        production=lambda q: f"production answer to {q}",
        shadow=lambda q: f"candidate answer to {q}",
        input=f"question {n}",
        user=f"user-{n}",
        interaction_id=f"served-{n}",
        router=router,
        recorder=recorder,
    )


def test_server_down_at_start_routes_to_production_and_buffers(server_process, token, tmp_path):
    with (
        Router(
            base_url=server_process.url,
            api_key=token,
            agent=AGENT,
            fallback_version="v1",
            backup_path=tmp_path / "routing.json",
        ) as router,
        recorder_for(server_process.url, token) as recorder,
    ):
        answers = {serve(n, router=router, recorder=recorder) for n in range(20)}
        stats = recorder.stats()
        recorder.close(timeout=0)
    expected = {f"production answer to question {n}" for n in range(20)}
    assert (answers, stats.sent, stats.queued + stats.in_flight) == (expected, 0, 20)


def test_buffered_interactions_arrive_once_when_server_comes_up(
    server_process, rollout, token, tmp_path
):
    with (
        Router(
            base_url=server_process.url,
            api_key=token,
            agent=AGENT,
            fallback_version="v1",
            backup_path=tmp_path / "routing.json",
        ) as router,
        recorder_for(server_process.url, token) as recorder,
    ):
        for n in range(300):
            serve(n, router=router, recorder=recorder)
        time.sleep(1.5)  # several failed attempts while the server is down
        server_process.start()
        wait_until(lambda: recorder.stats().sent == 300, timeout=60)
        stats = recorder.stats()
    # A request that timed out while the server booted may still have been stored; its retry
    # then comes back as a server-side duplicate. What matters: one row per interaction and
    # nothing acknowledged is sent again.
    assert (stored(), StoredResponse.objects.count(), stats.sent) == (300, 300, 300)


def test_router_leaves_fail_safe_when_server_comes_up(server_process, rollout, token, tmp_path):
    with Router(
        base_url=server_process.url,
        api_key=token,
        agent=AGENT,
        fallback_version="v1",
        refresh_seconds=0.3,
        backup_path=tmp_path / "b.json",
    ) as router:
        assert router.choose("user-1").revision == 0
        server_process.start()
        wait_until(lambda: router.choose("user-1").shadow, timeout=30)


def test_server_restart_mid_stream_loses_and_duplicates_nothing(server_process, rollout, token):
    server_process.start()
    with recorder_for(server_process.url, token) as recorder:
        for n in range(100):
            recorder.record(interaction(n))
        wait_until(lambda: recorder.stats().sent == 100, timeout=30)
        server_process.stop()
        for n in range(100, 250):
            recorder.record(interaction(n))
        time.sleep(1.0)
        server_process.start()
        wait_until(lambda: recorder.stats().sent == 250, timeout=60)
        stats = recorder.stats()
    assert (stored(), StoredResponse.objects.count(), stats.sent) == (250, 500, 250)


def test_rate_cap_retry_after_is_honoured(live_url, agent, token, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    if 60 - time.time() % 60 < 3:  # keep the setup inside one rate-cap window
        time.sleep(60 - time.time() % 60 + 0.1)
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "interactions": [
            {
                "id": "warm-up",
                "agent": AGENT,
                "input": "x",
                "responses": [{"version": "v1", "served": True}],
            }
        ]
    }
    assert (
        httpx.post(f"{live_url}/api/v1/interactions", json=body, headers=headers).status_code == 202
    )
    capped = httpx.post(f"{live_url}/api/v1/interactions", json=body, headers=headers)
    retry_after, capped_at = int(capped.headers["Retry-After"]), time.time()
    with recorder_for(live_url, token) as recorder:
        recorder.record(interaction(1))
        wait_until(lambda: stored() == 2, timeout=retry_after + 30)
        stats = recorder.stats()
    received = StoredInteraction.objects.get(external_id="it-1").received_at.timestamp()
    assert (received >= capped_at + retry_after - 1.5, stats.rate_limited) == (True, 1)


def test_full_queue_never_blocks_the_caller(dead_url, token):
    with recorder_for(dead_url, token, max_queue=100) as recorder:
        started = time.perf_counter()
        for n in range(20_000):
            recorder.record(interaction(n))
        elapsed = time.perf_counter() - started
        recorder.close(timeout=0)
    assert elapsed < 2.0


def test_full_queue_drops_oldest_and_counts_them(dead_url, token):
    with recorder_for(dead_url, token, max_queue=100) as recorder:
        for n in range(20_000):
            recorder.record(interaction(n))
        stats = recorder.stats()
        recorder.close(timeout=0)
    assert (stats.dropped, stats.queued) == (20_000 - stats.queued - stats.in_flight, 100)


def test_refused_interaction_is_dropped_and_the_rest_arrives(live_url, agent, token):
    two_served = interaction(
        2, responses=[Response(version="v1", served=True), Response(version="v2", served=True)]
    )
    with recorder_for(live_url, token, flush_seconds=0.5) as recorder:
        for item in (interaction(1), two_served, interaction(3)):
            recorder.record(item)
        wait_until(lambda: recorder.stats().rejected == 1 and stored() == 2, timeout=30)


def test_batches_refused_for_a_bad_key_do_not_block_the_queue(live_url, agent):
    with recorder_for(live_url, "ss_nobody_secret") as recorder:
        for n in range(5):
            recorder.record(interaction(n))
        wait_until(lambda: recorder.stats().rejected == 5, timeout=30)
        assert recorder.stats().queued + recorder.stats().in_flight == 0


def test_oversized_batch_is_split_until_the_server_takes_it(live_url, agent, token):
    big = "x" * 1_000_000
    with recorder_for(live_url, token, max_batch_bytes=50_000_000, flush_seconds=1.0) as recorder:
        for n in range(8):
            recorder.record(interaction(n, input=big))
        wait_until(lambda: stored() == 8, timeout=60)
        assert recorder.stats().rejected == 0


def test_close_sends_what_is_still_queued(live_url, agent, token):
    recorder = recorder_for(live_url, token, flush_seconds=3600)
    for n in range(10):
        recorder.record(interaction(n))
    recorder.close()
    assert stored() == 10


def test_interpreter_exit_sends_what_is_still_queued(live_url, agent, token):
    script = textwrap.dedent(f"""
        from shadowstage_client import Interaction, Recorder, Response
        recorder = Recorder(base_url={live_url!r}, api_key={token!r}, agent={AGENT!r},
                            flush_seconds=3600)
        for n in range(7):
            recorder.record(Interaction(input="q", id=f"exit-{{n}}",
                                        responses=[Response(version="v1", served=True)]))
    """)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    assert stored() == 7


def test_feedback_reaches_the_served_response(live_url, agent, token):
    with recorder_for(live_url, token) as recorder:
        recorder.record(interaction(1))
        recorder.feedback(interaction_id="it-1", score=1, comment="helpful")
        wait_until(
            lambda: Feedback.objects.filter(interaction__external_id="it-1").exists(), timeout=30
        )
    assert Feedback.objects.get().response.version.name == "v1"


def test_feedback_waits_for_an_interaction_recorded_later(live_url, agent, token):
    with recorder_for(live_url, token) as recorder:
        recorder.feedback(interaction_id="it-1", score=1)
        time.sleep(0.5)  # e.g. the shadow answer is still running, so nothing is recorded yet
        recorder.record(interaction(1))
        wait_until(lambda: Feedback.objects.exists(), timeout=30)
