"""Celery tasks for dataset runs (queue ``datasets``, routed by the task-name prefix)."""

from celery import shared_task

# A chunk holds its lease for 10 minutes; stop well before so the lease never outlives it.
CHUNK_SOFT_TIME_LIMIT = 8 * 60


@shared_task(
    name="evaluations.datasets.run_chunk_task",
    acks_late=True,
    soft_time_limit=CHUNK_SOFT_TIME_LIMIT,
    time_limit=CHUNK_SOFT_TIME_LIMIT + 60,
)
def run_chunk_task(run_id: int) -> str:
    from evaluations.datasets.runner import run_chunk_execute
    from evaluations.datasets.services import run_enqueue

    return run_chunk_execute(
        run_id=run_id,
        enqueue=lambda rid, countdown=0: run_enqueue(run_id=rid, countdown=countdown),
    )


@shared_task(name="evaluations.datasets.sweep_runs_task", acks_late=True)
def sweep_runs_task() -> dict:
    from evaluations.datasets.services import runs_sweep

    return runs_sweep()
