"""Judge tasks (queue ``judges``): thin wrappers around evaluations.scoring and pipeline.

Arguments are score ids. ``acks_late`` + ``reject_on_worker_lost``: a worker killed mid-score
gets its message redelivered, and the claim protocol in scoring makes the second run finish
the score instead of scoring it twice.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

_RELIABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
}


@shared_task(
    bind=True,
    name="evaluations.judges.score_batch_task",
    # Only the database being unreachable is retried here; judge errors are handled per
    # score (back-off, pause, failure) inside scores_run.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
    **_RELIABLE,
)
def score_batch_task(self, score_ids: list[int]) -> dict:
    from evaluations.pipeline import scores_retry_later
    from evaluations.scoring import scores_run

    report = scores_run(score_ids=score_ids, task_id=self.request.id or "")
    scores_retry_later(retry=report.retry)
    return {"claimed": report.claimed, "done": report.done, "failed": report.failed}


@shared_task(name="evaluations.judges.sweep_scores_task", **_RELIABLE)
def sweep_scores_task() -> int:
    """Beat: queue pending scores whose task never ran or went stale."""
    from evaluations.pipeline import scores_sweep

    return scores_sweep()


@shared_task(name="evaluations.judges.resume_paused_judges_task", **_RELIABLE)
def resume_paused_judges_task() -> int:
    """Beat: judges paused until a time (the daily budget) resume by themselves."""
    from evaluations.services import judges_resume_due

    return judges_resume_due()
