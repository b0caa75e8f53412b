"""Execute a dataset run one chunk at a time.

A chunk task claims the run with a lease (a conditional UPDATE, so a redelivered or duplicated
task does nothing), answers the next items that have no result yet, scores and saves them, and
hands over to the next chunk task. Saved results are the checkpoint: cancel stops the chain at
the next chunk, resume starts a new chain that skips every item already answered.

Endpoint trouble never leaves a run hanging: transient errors (timeouts, refused connections,
5xx, 429) back off 1, 2, 4 … s with jitter and honour Retry-After; when a chunk makes no
progress ``max_retries`` times in a row, or at once on a configuration error (401, HTML, wrong
answer path), the run pauses with the reason. A beat sweeper pauses runs whose worker vanished.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluations.datasets import connectors as conn
from evaluations.datasets.scoring import assess, public_values
from evaluations.judges.base import judge_instance
from evaluations.llm.errors import LLMError, PermanentLLMError, TransientLLMError
from evaluations.models import Dataset, DatasetItem, DatasetResult, DatasetRun, Judge
from shadow.ratelimit import rate_cap_hit

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
MIN_CHUNK, MAX_CHUNK = 8, 64
BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS = 1.0, 60.0
RUBRIC_MIN = 0.6
Status = DatasetRun.Status


class _Skipped(Exception):
    """An item left for the next chunk because the endpoint already failed in this one."""


@dataclass
class _ChunkOutcome:
    results: list[DatasetResult] = field(default_factory=list)
    transient: conn.TransientConnectorError | None = None
    permanent: str = ""
    rate_wait: float = 0.0


def backoff_seconds(*, failures: int, retry_after: float | None = None) -> float:
    """1, 2, 4 … s capped, with full jitter on top half so retrying workers spread out."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(failures - 1, 0))
    delay = delay / 2 + random.uniform(0, delay / 2)
    return max(delay, retry_after or 0.0)


def run_chunk_execute(*, run_id: int, enqueue: Callable[..., bool]) -> str:
    """Process one chunk of a run; ``enqueue(run_id, countdown=)`` schedules the next one."""
    now = timezone.now()
    lease = now + LEASE  # also this chunk's token: only its holder may save and hand over
    claimed = (
        DatasetRun.objects.filter(id=run_id, status__in=[Status.QUEUED, Status.RUNNING])
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            status=Status.RUNNING,
            lease_until=lease,
            heartbeat_at=now,
            started_at=Coalesce("started_at", now),
        )
    )
    if not claimed:
        return "skipped"
    run = DatasetRun.objects.select_related("dataset", "version__agent").get(id=run_id)
    config = run.connector
    chunk_size = max(MIN_CHUNK, min(MAX_CHUNK, int(config.get("concurrency") or 1) * 4))
    items = list(
        DatasetItem.objects.filter(dataset_id=run.dataset_id)
        .exclude(results__run_id=run.id)
        .order_by("position")[:chunk_size]
    )
    if not items:
        run_finish(run=run)
        return "finished"
    outcome = _chunk_answer(run=run, items=items)
    return _chunk_save(run=run, outcome=outcome, enqueue=enqueue, lease=lease)


def _chunk_answer(*, run: DatasetRun, items: list[DatasetItem]) -> _ChunkOutcome:
    config = run.connector
    outcome = _ChunkOutcome()
    allowed, outcome.rate_wait = _within_rate_cap(config=config, items=items)
    if not allowed:
        return outcome
    try:
        scorer = _Scorer(run=run)
    except PermanentLLMError as exc:
        outcome.permanent = exc.reason
        return outcome
    try:
        connector = conn.connector_build(
            config=config, agent_slug=run.version.agent.slug, version_name=run.version.name
        )
    except conn.ConnectorError as exc:
        outcome.permanent = exc.message
        return outcome
    stop = threading.Event()

    def answer(item: DatasetItem) -> tuple[DatasetItem, conn.Answer | Exception]:
        if stop.is_set():
            return item, _Skipped("skipped after an earlier failure")
        try:
            return item, connector.answer(input=item.input)
        except (conn.TransientConnectorError, conn.PermanentConnectorError) as exc:
            # One failure says the endpoint is in trouble: stop spending requests on it.
            stop.set()
            return item, exc
        except conn.ItemRejectedError as exc:
            return item, exc
        except Exception as exc:  # a connector bug must pause the run, not kill the chain
            logger.exception("connector failed on dataset run %s", run.id)
            stop.set()
            return item, conn.PermanentConnectorError(f"connector error: {exc!r}")

    workers = max(1, min(int(config.get("concurrency") or 1), len(allowed)))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answered = list(pool.map(answer, allowed))
    finally:
        connector.close()
    for item, result in answered:
        if isinstance(result, _Skipped):
            continue
        if isinstance(result, conn.PermanentConnectorError):
            outcome.permanent = outcome.permanent or result.message
        elif isinstance(result, conn.TransientConnectorError):
            outcome.transient = outcome.transient or result
        else:
            try:
                outcome.results.append(scorer.result(item=item, answer=result))
            except TransientLLMError as exc:
                outcome.transient = outcome.transient or conn.TransientConnectorError(
                    f"judge LLM: {exc.message}", retry_after=exc.retry_after
                )
            except PermanentLLMError as exc:
                outcome.permanent = outcome.permanent or f"judge LLM: {exc.reason}"
    return outcome


class _Scorer:
    def __init__(self, *, run: DatasetRun) -> None:
        self.kind = run.dataset.kind
        self.match = str(run.connector.get("golden_match") or "fuzzy")
        self._allowed: set[str] | None = None
        self._agent_id = run.dataset.agent_id or run.version.agent_id
        self.rubric = None
        self.rubric_min = float(run.connector.get("rubric_min") or RUBRIC_MIN)
        rubric_id = run.connector.get("rubric_judge_id")
        if rubric_id:
            judge = Judge.objects.filter(id=rubric_id, agent_id=self._agent_id).first()
            if judge is None:
                raise PermanentLLMError(f"the rubric judge {rubric_id} no longer exists")
            self.rubric = judge_instance(judge)

    @property
    def allowed_values(self) -> set[str]:
        if self._allowed is None:
            golden = DatasetItem.objects.filter(
                dataset__agent_id=self._agent_id, dataset__kind=Dataset.Kind.GOLDEN
            ).values_list("expected", flat=True)[:5000]
            self._allowed = public_values(expected_texts=golden)
        return self._allowed

    def result(self, *, item: DatasetItem, answer: conn.Answer | Exception) -> DatasetResult:
        if isinstance(answer, Exception):
            output, error, latency = "", getattr(answer, "message", str(answer)), None
        else:
            output, error, latency = answer.output, "", answer.latency_ms
        try:
            assessment = assess(
                kind=self.kind,
                input=item.input,
                expected=item.expected,
                expected_behaviour=item.expected_behaviour,
                output=output,
                error=error,
                allowed_values=self.allowed_values if self.kind == "redteam" else (),
                match=self.match,
            )
        except LLMError as exc:
            if isinstance(exc, TransientLLMError | PermanentLLMError):
                raise
            # Malformed judge output fails this item only, keeping what was said.
            return DatasetResult(
                item=item, output=output, error=f"judge: {exc}", latency_ms=latency, passed=False
            )
        passed, details = assessment.passed, assessment.details
        if self.rubric is not None and passed:
            # Only answers that passed the offline checks are worth a judge model's tokens.
            verdict = self.rubric.score(
                interaction=SimpleNamespace(input=item.input, metadata={}, opt_out=False),
                response=SimpleNamespace(output=output),
            )
            details["rubric"] = verdict.value
            if verdict.value is not None and verdict.value < self.rubric_min:
                passed = False
                details["reason"] = f"rubric {verdict.value:.2f} < {self.rubric_min:.2f}"
                if verdict.rationale:
                    details["rubric_rationale"] = verdict.rationale[:500]
        return DatasetResult(
            item=item,
            output=output,
            error=error,
            latency_ms=latency,
            passed=passed,
            details=details,
        )


def _within_rate_cap(*, config: dict[str, Any], items: list[DatasetItem]) -> tuple[list, float]:
    limit = int(config.get("requests_per_minute") or 0)
    if not limit:
        return items, 0.0
    allowed: list[DatasetItem] = []
    for item in items:
        decision = rate_cap_hit(
            key=f"dataset-endpoint:{conn.endpoint_key(config=config)}", limit=limit
        )
        if not decision.allowed:
            return allowed, float(decision.retry_after)
        allowed.append(item)
    return allowed, 0.0


def _chunk_save(
    *, run: DatasetRun, outcome: _ChunkOutcome, enqueue: Callable[..., bool], lease: Any
) -> str:
    now = timezone.now()
    for result in outcome.results:
        result.run = run
    progressed = bool(outcome.results)
    with transaction.atomic():
        DatasetResult.objects.bulk_create(outcome.results, ignore_conflicts=True)
        done = DatasetResult.objects.filter(run_id=run.id).count()
        DatasetRun.objects.filter(id=run.id).update(done=done)
        failures = 0 if progressed else run.consecutive_failures
        countdown = outcome.rate_wait
        changes: dict[str, Any] = {"lease_until": None, "heartbeat_at": now}
        if outcome.permanent:
            changes |= {"status": Status.PAUSED, "paused_reason": outcome.permanent}
        elif outcome.transient is not None and not progressed:
            failures += 1
            max_retries = int(run.connector.get("max_retries", conn.DEFAULT_MAX_RETRIES))
            if failures > max_retries:
                changes["status"] = Status.PAUSED
                changes["paused_reason"] = (
                    f"{outcome.transient.message} (paused after {failures} "
                    f"attempt{'s' if failures != 1 else ''})"
                )
            else:
                countdown = backoff_seconds(
                    failures=failures, retry_after=outcome.transient.retry_after
                )
        if outcome.transient is not None:
            changes["last_error"] = outcome.transient.message
        elif progressed:
            changes["last_error"] = ""
        changes["consecutive_failures"] = failures
        if countdown:
            # The next chunk is due later; the sweeper must not take the wait for a stall.
            changes["heartbeat_at"] = now + timedelta(seconds=countdown)
        ours = DatasetRun.objects.filter(id=run.id, lease_until=lease)
        still_running = ours.filter(status=Status.RUNNING).update(**changes)
        # Cancelled (or cancelled and resumed) while this chunk ran: its answers are saved
        # above; hand the lease back so no second chain can run beside this one, and carry
        # a resumed run on from here.
        resumed = not still_running and ours.filter(status=Status.QUEUED).update(
            lease_until=None, heartbeat_at=now
        )
        if not still_running and not resumed:
            ours.update(lease_until=None)
    if resumed:
        enqueue(run.id, countdown=0)
        return "continued"
    if outcome.permanent or not still_running or changes.get("status") == Status.PAUSED:
        return "paused" if still_running else "stopped"
    if not enqueue(run.id, countdown=countdown):
        # Broker down: leave it queued so the sweeper hands it out again.
        DatasetRun.objects.filter(id=run.id, status=Status.RUNNING).update(status=Status.QUEUED)
    return "continued"


def run_finish(*, run: DatasetRun) -> bool:
    from evaluations.datasets.selectors import run_pass_summary

    now = timezone.now()
    with transaction.atomic():
        finished = DatasetRun.objects.filter(id=run.id, status=Status.RUNNING).update(
            status=Status.FINISHED,
            finished_at=now,
            lease_until=None,
            heartbeat_at=now,
            done=DatasetResult.objects.filter(run_id=run.id).count(),
            paused_reason="",
        )
        if finished:
            _publish_finished(run=run, summary=run_pass_summary(run=run))
    return bool(finished)


def _publish_finished(*, run: DatasetRun, summary: dict[str, Any]) -> None:
    try:
        from rollouts.events import event_publish
    except ModuleNotFoundError as exc:
        if exc.name not in ("rollouts.events",):
            raise
        return
    event_publish(
        type="dataset_run.finished",
        agent=run.version.agent,
        payload={
            "run": run.id,
            "dataset": run.dataset.name,
            "dataset_version": run.dataset.version,
            "kind": run.dataset.kind,
            "version": run.version.name,
            **summary,
        },
    )
