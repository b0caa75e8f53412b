"""Failing gracefully, with a real worker, real Redis and the fake judge endpoint.

Every test ingests through the API, lets a real Celery worker score, injects one fault and
checks that nothing is lost, nothing is scored or charged twice, and dead endpoints are
left alone.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluations.budgets import BUDGET_REASON, next_utc_midnight
from evaluations.models import Judge, JudgeDailyUsage, Score
from evaluations.pipeline import scores_sweep
from evaluations.scoring import RetryPolicy
from evaluations.services import judge_resume, judges_resume_due
from shadow.models import Response
from tests.evaluations import judges_support
from tests.evaluations.judges_support import (
    batch_item,
    celery_broker,
    llm_params,
    post_batch,
    wait_for,
    workers_ready,
)
from tests.factories import AgentFactory, api_key_for

# Fixtures shared by the judges tests.
fake_server, fake = judges_support.fake_server, judges_support.fake
ready_worker, private_redis = judges_support.ready_worker, judges_support.private_redis

SLUG = "support-bot"
OFFLINE_KINDS = ("refusal", "pii_leak", "prompt_injection", "budget")

worker_test = pytest.mark.django_db(transaction=True)


def _rubric_judge(server, **fields) -> Judge:
    agent = AgentFactory(slug=SLUG)
    params = llm_params(server, batch_size=fields.pop("batch_size", 2))
    return Judge.objects.create(
        agent=agent, name="rubric", kind="llm_rubric", params=params, **fields
    )


def _ingest_answers(client, judge: Judge, count: int, *, start: int = 0) -> None:
    """`count` interactions with one (served) answer each: one rubric score per interaction."""
    items = [
        batch_item(f"req-{i}", agent=SLUG, production=f"[[quality:4]] answer {i}", candidate=None)
        for i in range(start, start + count)
    ]
    post_batch(client, token=api_key_for(judge.agent), items=items)


def _statuses(judge: Judge | None = None) -> dict[str, int]:
    scores = Score.objects.all() if judge is None else Score.objects.filter(judge=judge)
    counts: dict[str, int] = {}
    for status in scores.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def _all_done(expected: int, judge: Judge | None = None):
    return lambda: _statuses(judge) == {"done": expected}


# --- retry policy (no worker) ------------------------------------------------------------------


def test_backoff_doubles_from_one_second():
    policy = RetryPolicy(jitter=0)
    assert [policy.delay(failures=n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]


def test_backoff_is_capped():
    assert RetryPolicy(jitter=0, cap_s=60).delay(failures=30) == 60


def test_backoff_never_comes_before_retry_after():
    assert RetryPolicy(jitter=0).delay(failures=1, retry_after=7) == 7


def test_jitter_only_adds_time():
    delays = [RetryPolicy(jitter=0.25).delay(failures=3) for _ in range(200)]
    assert min(delays) >= 4 and max(delays) <= 5 and len(set(delays)) > 1


def test_judges_paused_until_a_past_time_resume_by_themselves(db):
    judge = Judge.objects.create(
        agent=AgentFactory(slug=SLUG),
        name="rubric",
        kind="llm_rubric",
        paused_reason=BUDGET_REASON,
        paused_until=timezone.now() - timedelta(seconds=1),
    )
    judges_resume_due()
    judge.refresh_from_db()
    assert (judge.paused_reason, judge.paused_until) == ("", None)


def test_judges_paused_without_an_end_stay_paused(db):
    judge = Judge.objects.create(
        agent=AgentFactory(slug=SLUG), name="rubric", kind="llm_rubric", paused_reason="HTTP 401"
    )
    judges_resume_due()
    judge.refresh_from_db()
    assert judge.paused_reason == "HTTP 401"


# --- faults with a real worker -----------------------------------------------------------------


@worker_test
def test_redis_stopped_during_ingest_loses_no_score(
    celery_worker_factory, private_redis, client, monkeypatch
):
    monkeypatch.setattr("shadow.tasks.STALE_AFTER", timedelta(0))
    from shadow.tasks import sweep_unprocessed_task

    agent = AgentFactory(slug=SLUG)
    for kind in OFFLINE_KINDS:
        Judge.objects.create(agent=agent, name=kind, kind=kind)
    token = api_key_for(agent)
    env = {"REDIS_URL": private_redis.url, "CELERY_BROKER_URL": private_redis.url}
    with celery_broker(private_redis.url):
        celery_worker_factory(env=env)
        workers_ready(count=1)
        post_batch(client, token=token, items=[batch_item(f"a-{i}", agent=SLUG) for i in range(10)])
        private_redis.stop()
        post_batch(client, token=token, items=[batch_item(f"b-{i}", agent=SLUG) for i in range(10)])
        private_redis.start()

        def everything_scored() -> bool:
            # What beat would do every 30 s: find work whose message never made it.
            sweep_unprocessed_task()
            scores_sweep(grace=timedelta(seconds=5))
            return _statuses() == {"done": 20 * 2 * len(OFFLINE_KINDS)}

        wait_for(everything_scored, timeout=180, interval=3, message="scores lost")
    assert not Response.objects.filter(processed_at__isnull=True).exists()


@worker_test
def test_worker_killed_mid_score_is_redelivered_and_charged_once(ready_worker, client, fake):
    fake.configure(latency=3)
    judge = _rubric_judge(fake)
    _ingest_answers(client, judge, 1)
    wait_for(lambda: fake.stats()["calls"] >= 1, timeout=60, message="judge never called")
    for pid in ready_worker.child_pids():
        os.kill(pid, signal.SIGKILL)
    wait_for(_all_done(1), timeout=90, message="killed score never finished")
    score = Score.objects.get()
    usage = JudgeDailyUsage.objects.get(judge=judge)
    served = fake.stats()
    # The server answered two calls (the killed one and the redelivered one); one is charged.
    assert (served["calls"], usage.calls, usage.tokens_in * 2, usage.cost_usd) == (
        2,
        1,
        served["tokens_in"],
        score.cost_usd,
    )


def _ingest_while_paused(client, judge: Judge, count: int) -> None:
    """Scores wait behind a pause, so a fault can start right when the calls do."""
    Judge.objects.filter(pk=judge.pk).update(paused_reason="test setup")
    _ingest_answers(client, judge, count)
    wait_for(lambda: _statuses(judge) == {"pending": count}, timeout=60)


@worker_test
def test_rate_limited_judge_finishes_after_retry_after(ready_worker, client, fake):
    judge = _rubric_judge(fake)
    _ingest_while_paused(client, judge, 6)
    fake.configure(status_for_seconds={"status": 429, "seconds": 10, "retry_after": 2})
    window_end = timezone.now() + timedelta(seconds=10)
    judge_resume(judge=judge)
    wait_for(_all_done(6), timeout=120, message="scores not done after the 429 window")
    last = max(Score.objects.values_list("finished_at", flat=True))
    assert (fake.stats()["by_status"].get("429", 0) > 0, last >= window_end) == (True, True)


@worker_test
def test_intermittent_server_errors_end_with_every_score_done(ready_worker, client, fake):
    fake.configure(error_rate=0.4, error_status=500, seed=11)
    judge = _rubric_judge(fake)
    _ingest_answers(client, judge, 10)
    wait_for(_all_done(10), timeout=120, message="scores not done despite retries")
    assert fake.stats()["by_status"].get("500", 0) > 0


@worker_test
def test_rejected_key_pauses_the_judge_with_its_reason(ready_worker, client, fake):
    fake.configure(api_key="the-right-key")
    judge = _rubric_judge(fake)
    _ingest_answers(client, judge, 4)
    wait_for(lambda: Judge.objects.get(pk=judge.pk).is_paused, timeout=60)
    judge.refresh_from_db()
    assert "API key" in judge.paused_reason


@worker_test
def test_paused_judge_makes_no_calls_and_fails_nothing(ready_worker, client, fake):
    fake.configure(api_key="the-right-key")
    judge = _rubric_judge(fake)
    _ingest_answers(client, judge, 4)
    wait_for(
        lambda: _statuses(judge) == {"pending": 4} and Judge.objects.get(pk=judge.pk).is_paused
    )
    calls = fake.stats()["calls"]
    scores_sweep(grace=timedelta(0))  # even the sweeper leaves a paused judge alone
    time.sleep(5)
    assert (fake.stats()["calls"], _statuses(judge)) == (calls, {"pending": 4})


@worker_test
def test_resumed_judge_finishes_its_waiting_scores(ready_worker, client, fake):
    fake.configure(api_key="the-right-key")
    judge = _rubric_judge(fake)
    _ingest_answers(client, judge, 4)
    wait_for(
        lambda: _statuses(judge) == {"pending": 4} and Judge.objects.get(pk=judge.pk).is_paused
    )
    fake.configure(api_key=None)
    judge_resume(judge=judge)
    wait_for(_all_done(4, judge), timeout=60, message="resumed judge did not finish")


@worker_test
def test_malformed_output_fails_after_the_simplified_retry(ready_worker, client, fake):
    fake.configure(malformed="not_json")
    judge = _rubric_judge(fake)
    _ingest_answers(client, judge, 1)
    wait_for(lambda: _statuses(judge) == {"failed": 1}, timeout=60)
    score = Score.objects.get()
    prompts = [r["messages"][0]["content"] for r in fake.requests()]
    assert (len(prompts), "1 (very poor) to 5" in prompts[1], "simplified" in score.last_error) == (
        2,
        True,
        True,
    )


@worker_test
def test_failed_score_keeps_the_raw_answer(ready_worker, client, fake):
    fake.configure(malformed="not_json")
    judge = _rubric_judge(fake)
    _ingest_answers(client, judge, 1)
    wait_for(lambda: _statuses(judge) == {"failed": 1}, timeout=60)
    assert "reasonable answer" in Score.objects.get().details["raw_output"]


@worker_test
def test_rate_cap_holds_across_two_workers(celery_worker_factory, client, fake):
    judge = _rubric_judge(fake, requests_per_minute=30, batch_size=1)
    celery_worker_factory(concurrency=2)
    celery_worker_factory(concurrency=2)
    workers_ready(count=2)
    _ingest_answers(client, judge, 12)
    wait_for(_all_done(12), timeout=150, message="capped scores not done")
    times = sorted(Score.objects.values_list("finished_at", flat=True))
    busiest = max(
        sum(1 for t in times if start <= t < start + timedelta(seconds=10)) for start in times
    )
    # 30/min = a bucket of 3 plus 0.45 per second: at most 3 + 4.5 calls in any 10 s.
    assert busiest <= 8


@worker_test
def test_spent_budget_pauses_the_judge_until_midnight(ready_worker, client, fake):
    judge = _rubric_judge(fake, daily_token_budget=1000)
    _ingest_answers(client, judge, 8)
    wait_for(lambda: Judge.objects.get(pk=judge.pk).is_paused, timeout=90)
    judge.refresh_from_db()
    assert (judge.paused_reason, judge.paused_until) == (BUDGET_REASON, next_utc_midnight())


@worker_test
def test_spent_budget_leaves_the_rest_waiting(ready_worker, client, fake):
    judge = _rubric_judge(fake, daily_token_budget=1000)
    _ingest_answers(client, judge, 8)
    wait_for(lambda: Judge.objects.get(pk=judge.pk).is_paused, timeout=90)
    wait_for(lambda: "running" not in _statuses(judge), timeout=30)
    assert set(_statuses(judge)) == {"done", "pending"}
