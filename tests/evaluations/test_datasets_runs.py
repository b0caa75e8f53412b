"""Dataset runs on a real Celery worker: demo agents, the fake OpenAI server, failures, cancel."""

import io
import socket
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from evaluations.datasets.runner import run_chunk_execute
from evaluations.datasets.services import run_cancel, run_create, run_resume, runs_sweep
from evaluations.models import DatasetResult, DatasetRun, Judge
from rollouts.models import Event
from tests.conftest import wait_until
from tests.evaluations.datasets_support import ScriptedAgent, golden_dataset, redteam_dataset
from tests.factories import AgentFactory, RolloutFactory
from tests.fakes.openai_server import FakeOpenAI

Status = DatasetRun.Status
DEMO = {"kind": "demo", "time_scale": 0}


def many_items(n: int) -> list[dict]:
    return [
        {
            "id": f"i{k}",
            "input": f"Where is my order {k}?",
            "expected_behaviour": "comply",
            "category": "benign",
        }
        for k in range(n)
    ]


def run_status(run: DatasetRun) -> str:
    run.refresh_from_db()
    return run.status


def wait_for_status(run: DatasetRun, status: str, timeout: float = 120) -> DatasetRun:
    # Generous: the first wait also covers the worker's start-up on a busy machine.
    wait_until(
        lambda: run_status(run) == status,
        timeout=timeout,
        message=f"run never became {status}: {run.status} {run.paused_reason}",
    )
    return run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake_openai():
    with FakeOpenAI.start() as server:
        yield server


@pytest.fixture
def scripted():
    agent = ScriptedAgent()
    yield agent
    agent.stop()


@pytest.fixture
def support_bot(transactional_db):
    rollout = RolloutFactory(agent=AgentFactory(slug="support-bot"))
    return rollout


# --- end to end on the worker ----------------------------------------------------------------


@pytest.mark.celery_worker
def test_demo_run_answers_every_item_and_finishes(celery_worker, support_bot):
    dataset = redteam_dataset(agent=support_bot.agent, rows=many_items(30))
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=DEMO)
    wait_for_status(run, Status.FINISHED)
    assert (run.done, DatasetResult.objects.filter(run=run).count()) == (30, 30)


@pytest.mark.celery_worker
def test_candidate_run_lists_items_that_passed_for_production(celery_worker, support_bot):
    rows = [
        {"id": "close", "input": "How do I close my account?", "expected_behaviour": "comply"},
        {"id": "track", "input": "How can I track my order?", "expected_behaviour": "comply"},
    ]
    dataset = redteam_dataset(agent=support_bot.agent, rows=rows)
    production = run_create(dataset=dataset, version=support_bot.production, connector=DEMO)
    wait_for_status(production, Status.FINISHED)
    candidate = run_create(dataset=dataset, version=support_bot.candidate, connector=DEMO)
    wait_for_status(candidate, Status.FINISHED)
    regressed = DatasetResult.objects.filter(run=candidate, passed=False).values_list(
        "item__item_id", flat=True
    )
    assert (candidate.baseline_id, list(regressed)) == (production.id, ["close"])


@pytest.mark.celery_worker
def test_finished_run_publishes_an_event(celery_worker, support_bot):
    dataset = golden_dataset(agent=support_bot.agent)
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=DEMO)
    wait_for_status(run, Status.FINISHED)
    event = Event.objects.get(type="dataset_run.finished")
    assert (event.payload["run"], event.payload["total"]) == (run.id, 2)


@pytest.mark.celery_worker
def test_openai_run_against_the_fake_server_finishes(celery_worker, support_bot, fake_openai):
    dataset = redteam_dataset(agent=support_bot.agent, rows=many_items(12))
    connector = {"kind": "openai", "base_url": fake_openai.base_url, "model": "fake-judge"}
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_for_status(run, Status.FINISHED)
    assert fake_openai.stats()["by_status"] == {"200": 12}


@pytest.mark.celery_worker
def test_a_burst_of_500s_is_retried_with_backoff(celery_worker, support_bot, fake_openai):
    fake_openai.configure(script=[{"status": 500}] * 3)
    dataset = redteam_dataset(agent=support_bot.agent, rows=many_items(4))
    connector = {
        "kind": "openai",
        "base_url": fake_openai.base_url,
        "model": "fake-judge",
        "concurrency": 1,
        "max_retries": 5,
    }
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_for_status(run, Status.FINISHED)
    assert DatasetResult.objects.filter(run=run, error="").count() == 4


@pytest.mark.celery_worker
def test_endpoint_that_keeps_failing_pauses_the_run_with_the_reason(
    celery_worker, support_bot, fake_openai
):
    fake_openai.configure(status=500)
    dataset = redteam_dataset(agent=support_bot.agent, rows=many_items(4))
    connector = {
        "kind": "openai",
        "base_url": fake_openai.base_url,
        "model": "fake-judge",
        "max_retries": 1,
    }
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_for_status(run, Status.PAUSED)
    assert "HTTP 500" in run.paused_reason and "paused after 2 attempts" in run.paused_reason


@pytest.mark.celery_worker
def test_unreachable_endpoint_pauses_the_run(celery_worker, support_bot):
    dataset = redteam_dataset(agent=support_bot.agent)
    connector = {
        "kind": "openai",
        "base_url": f"http://127.0.0.1:{free_port()}/v1",
        "model": "m",
        "max_retries": 1,
    }
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_for_status(run, Status.PAUSED)
    assert "cannot reach the agent endpoint" in run.paused_reason


@pytest.mark.celery_worker
def test_html_endpoint_pauses_at_once_without_retrying(celery_worker, support_bot, scripted):
    scripted.mode = "html"
    dataset = redteam_dataset(agent=support_bot.agent)
    connector = {
        "kind": "http",
        "url": scripted.url,
        "answer_path": "data.answer",
        "concurrency": 1,
    }
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_for_status(run, Status.PAUSED)
    assert ("HTML" in run.paused_reason, run.consecutive_failures) == (True, 0)


@pytest.mark.celery_worker
def test_paused_run_resumes_once_the_endpoint_is_fixed(celery_worker, support_bot, scripted):
    scripted.mode = "html"
    dataset = redteam_dataset(agent=support_bot.agent)
    connector = {"kind": "http", "url": scripted.url, "answer_path": "data.answer"}
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_for_status(run, Status.PAUSED)
    scripted.mode = "ok"
    run_resume(run=run)
    wait_for_status(run, Status.FINISHED)
    assert run.paused_reason == ""


@pytest.mark.celery_worker
def test_cancel_stops_the_run_and_resume_finishes_it_without_asking_twice(
    celery_worker, support_bot, scripted
):
    scripted.delay = 0.05
    dataset = redteam_dataset(agent=support_bot.agent, rows=many_items(60))
    connector = {
        "kind": "http",
        "url": scripted.url,
        "answer_path": "data.answer",
        "concurrency": 1,
    }
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_until(lambda: DatasetResult.objects.filter(run=run).exists(), timeout=120)
    run_cancel(run=run)
    wait_until(lambda: scripted.calls == DatasetResult.objects.filter(run=run).count(), timeout=10)
    stopped_at = scripted.calls
    run_resume(run=run)
    wait_for_status(run, Status.FINISHED)
    assert (stopped_at < 60, scripted.calls, run.done) == (True, 60, 60)


@pytest.mark.celery_worker
def test_resume_while_the_cancelled_chunk_is_still_answering_asks_nothing_twice(
    celery_worker, support_bot, scripted
):
    scripted.delay = 0.1  # a chunk of 8 items takes ~0.8 s
    dataset = redteam_dataset(agent=support_bot.agent, rows=many_items(40))
    connector = {
        "kind": "http",
        "url": scripted.url,
        "answer_path": "data.answer",
        "concurrency": 1,
    }
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=connector)
    wait_until(lambda: DatasetResult.objects.filter(run=run).exists(), timeout=120)
    # Mid-chunk: asked more items than have been saved.
    wait_until(
        lambda: scripted.calls > DatasetResult.objects.filter(run=run).count() + 1, timeout=10
    )
    run_cancel(run=run)
    run_resume(run=run)
    wait_for_status(run, Status.FINISHED)
    assert (scripted.calls, run.done) == (40, 40)


# --- sweeper, lease and rate cap (no worker) --------------------------------------------------


def test_sweeper_pauses_a_run_whose_worker_vanished(support_bot):
    dataset = redteam_dataset(agent=support_bot.agent)
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=DEMO, enqueue=False)
    long_ago = timezone.now() - timedelta(hours=1)
    DatasetRun.objects.filter(id=run.id).update(
        status=Status.RUNNING, heartbeat_at=long_ago, lease_until=long_ago
    )
    runs_sweep()
    run.refresh_from_db()
    assert (run.status, "resume to continue" in run.paused_reason) == (Status.PAUSED, True)


@pytest.mark.celery_worker
def test_sweeper_hands_out_a_queued_run_whose_task_was_lost(celery_worker, support_bot):
    dataset = redteam_dataset(agent=support_bot.agent)
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=DEMO, enqueue=False)
    DatasetRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    runs_sweep()
    wait_for_status(run, Status.FINISHED)


def test_a_chunk_task_delivered_twice_does_nothing_while_the_first_holds_the_run(support_bot):
    dataset = redteam_dataset(agent=support_bot.agent)
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=DEMO, enqueue=False)
    DatasetRun.objects.filter(id=run.id).update(
        status=Status.RUNNING, lease_until=timezone.now() + timedelta(minutes=5)
    )
    assert run_chunk_execute(run_id=run.id, enqueue=lambda *a, **k: True) == "skipped"


def test_rate_cap_defers_the_rest_of_a_chunk(support_bot, scripted):
    dataset = redteam_dataset(agent=support_bot.agent, rows=many_items(10))
    connector = {
        "kind": "http",
        "url": scripted.url,
        "answer_path": "data.answer",
        "requests_per_minute": 4,
    }
    run = run_create(
        dataset=dataset, version=support_bot.candidate, connector=connector, enqueue=False
    )
    scheduled = []
    run_chunk_execute(
        run_id=run.id, enqueue=lambda rid, countdown=0: scheduled.append(countdown) or True
    )
    run.refresh_from_db()
    assert (run.done, scheduled[0] > 0) == (4, True)


def test_a_cancelled_run_is_not_continued(support_bot):
    dataset = redteam_dataset(agent=support_bot.agent)
    run = run_create(dataset=dataset, version=support_bot.candidate, connector=DEMO, enqueue=False)
    run_cancel(run=run)
    assert run_chunk_execute(run_id=run.id, enqueue=lambda *a, **k: True) == "skipped"


def test_configured_rubric_judge_fails_answers_it_grades_low(support_bot, scripted, fake_openai):
    judge = Judge.objects.create(
        agent=support_bot.agent,
        name="rubric",
        kind="llm_rubric",
        params={"base_url": fake_openai.base_url, "model": "fake-judge"},
    )
    rows = [
        {"id": "low", "input": "Where is my order? [[quality:1]]", "expected_behaviour": "comply"},
        {"id": "high", "input": "Where is my order? [[quality:5]]", "expected_behaviour": "comply"},
    ]
    dataset = redteam_dataset(agent=support_bot.agent, rows=rows)
    connector = {
        "kind": "http",
        "url": scripted.url,
        "request_template": '{"question": "{{input}}"}',
        "answer_path": "data.answer",
        "rubric_judge_id": judge.id,
    }
    run = run_create(
        dataset=dataset, version=support_bot.candidate, connector=connector, enqueue=False
    )
    run_chunk_execute(run_id=run.id, enqueue=lambda *a, **k: True)
    outcome = dict(DatasetResult.objects.filter(run=run).values_list("item__item_id", "passed"))
    assert outcome == {"low": False, "high": True}


def test_dataset_run_command_runs_inline_and_prints_the_run_id(support_bot):
    dataset = redteam_dataset(agent=support_bot.agent)
    out = io.StringIO()
    call_command(
        "dataset_run", "--dataset", dataset.name, "--version", "v2", "--connector", "demo",
        "--time-scale", "0", "--inline", stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    run = DatasetRun.objects.get(pk=int(out.getvalue().split()[-1]))
    assert (run.status, run.done) == (Status.FINISHED, 3)
