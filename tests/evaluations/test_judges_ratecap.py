"""The per-judge rate cap: a Redis token bucket shared by every worker process."""

import itertools
import multiprocessing
import time

import pytest

from evaluations import ratecap
from evaluations.ratecap import Bucket, rate_acquire

_judge_ids = itertools.count(90_000)


@pytest.fixture
def judge_id() -> int:
    return next(_judge_ids)


def _take(judge_id: int, *, rpm=None, tpm=None, tokens: int = 1):
    return rate_acquire(
        judge_id=judge_id, requests_per_minute=rpm, tokens_per_minute=tpm, tokens=tokens
    )


def test_no_cap_configured_always_admits(judge_id):
    assert all(_take(judge_id).allowed for _ in range(50))


def test_bucket_never_admits_more_than_the_cap_per_minute():
    bucket = Bucket.per_minute(key="k", cap=60)
    assert bucket.capacity + bucket.refill_per_s * 60 == 60


def test_burst_is_a_tenth_of_the_cap_then_requests_wait(judge_id):
    admitted = [_take(judge_id, rpm=60).allowed for _ in range(10)]
    assert admitted == [True] * 6 + [False] * 4


def test_refused_request_is_told_how_long_to_wait(judge_id):
    for _ in range(6):
        _take(judge_id, rpm=60)
    wait = _take(judge_id, rpm=60).wait_s
    assert 0 < wait <= 60 / 54


def test_token_cap_counts_estimated_tokens(judge_id):
    assert [_take(judge_id, tpm=6000, tokens=300).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]


def test_a_request_bigger_than_the_bucket_can_still_pass(judge_id):
    assert _take(judge_id, tpm=1000, tokens=5000).allowed


def test_refused_requests_spend_nothing(judge_id):
    # The token bucket refuses; the request bucket must not have been charged for it.
    _take(judge_id, rpm=600, tpm=600, tokens=60)
    _take(judge_id, rpm=600, tpm=600, tokens=60)
    assert _take(judge_id, rpm=600).allowed


def _hammer(judge_id: int, results) -> None:
    ratecap._redis.cache_clear()  # a fresh connection in the child process
    results.put(sum(_take(judge_id, rpm=120).allowed for _ in range(40)))


def test_processes_share_one_bucket(judge_id):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_hammer, args=(judge_id, results)) for _ in range(3)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    admitted = sum(results.get(timeout=30) for _ in workers)
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join(10)
    bucket = Bucket.per_minute(key="k", cap=120)
    # One shared bucket: its burst plus what refilled meanwhile (three private ones: 3 × 12).
    assert admitted <= bucket.capacity + bucket.refill_per_s * elapsed + 1


def test_unreachable_store_makes_capped_judges_wait(judge_id, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    ratecap._redis.cache_clear()
    try:
        decision = _take(judge_id, rpm=60)
    finally:
        ratecap._redis.cache_clear()
    assert (decision.allowed, decision.wait_s) == (False, ratecap.STORE_DOWN_WAIT_S)


def test_judge_backoff_is_shared_through_the_cache(judge_id):
    ratecap.cooldown_start(judge_id=judge_id, seconds=30)
    assert 29 < ratecap.cooldown_remaining(judge_id=judge_id) <= 30


def test_a_success_clears_the_backoff(judge_id):
    ratecap.failures_record(judge_id=judge_id)
    ratecap.cooldown_start(judge_id=judge_id, seconds=30)
    ratecap.failures_reset(judge_id=judge_id)
    assert ratecap.cooldown_remaining(judge_id=judge_id) == 0
