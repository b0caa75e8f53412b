"""The Celery application: one queue per kind of work, beat sweeps for anything left behind."""

import os

from celery import Celery
from celery.signals import worker_init
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("shadowstage")


@worker_init.connect
def _load_detector_models(**_kwargs) -> None:
    """Load the language models once in the parent so forked children share them."""
    from evaluations.detectors.language import warm_up

    warm_up()


app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [
    Queue(name) for name in ("ingest", "judges", "events", "datasets", "default")
]
app.conf.task_routes = {
    "shadow.*": {"queue": "ingest"},
    "evaluations.judges.*": {"queue": "judges"},
    "evaluations.datasets.*": {"queue": "datasets"},
    "rollouts.events.*": {"queue": "events"},
}
app.conf.beat_schedule = {
    "sweep-unprocessed-interactions": {
        "task": "shadow.sweep_unprocessed_task",
        "schedule": 30.0,
    },
    "sweep-scores": {
        "task": "evaluations.judges.sweep_scores_task",
        "schedule": 30.0,
    },
    "resume-paused-judges": {
        "task": "evaluations.judges.resume_paused_judges_task",
        "schedule": 60.0,
    },
    "sweep-dataset-runs": {
        "task": "evaluations.datasets.sweep_runs_task",
        "schedule": 60.0,
    },
    "sweep-events": {
        "task": "rollouts.events.sweep_task",
        "schedule": 15.0,
    },
    "rollout-automation": {
        "task": "rollouts.automation_tick_task",
        "schedule": 60.0,
    },
}
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="event_tasks")
app.autodiscover_tasks(["evaluations.datasets"])


def task_send_safely(task, *, args: tuple = (), kwargs: dict | None = None, **options) -> bool:
    """Enqueue without letting a broker outage fail the caller.

    Work that could not be enqueued is still in the database; the beat sweepers find it again.
    """
    import logging

    try:
        task.apply_async(args=args, kwargs=kwargs or {}, retry=False, **options)
        return True
    except Exception:
        logging.getLogger(__name__).warning(
            "broker unavailable; %s left for the sweeper", task.name, exc_info=True
        )
        return False
