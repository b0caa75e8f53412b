"""Ingest post-processing: slices, rollups, and handing new responses to the judges."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from config.celery_app import task_send_safely
from shadow.models import Interaction, Response

BATCH = 500
STALE_AFTER = timedelta(seconds=60)


@shared_task(name="shadow.postprocess_interactions_task", acks_late=True)
def postprocess_interactions_task(interaction_ids: list[int]) -> int:
    from shadow.processing import interactions_postprocess

    return interactions_postprocess(interaction_ids=interaction_ids)


def postprocess_enqueue(*, interaction_ids: list[int]) -> None:
    for start in range(0, len(interaction_ids), BATCH):
        ids = interaction_ids[start : start + BATCH]
        task_send_safely(
            postprocess_interactions_task,
            args=(ids,),
            argsrepr=f"({len(ids)} interaction ids, {ids[0]}…{ids[-1]})",  # not all of them
        )


@shared_task(name="shadow.sweep_unprocessed_task", acks_late=True)
def sweep_unprocessed_task() -> int:
    """Find work whose task never ran (broker down at enqueue time, worker lost)."""
    cutoff = timezone.now() - STALE_AFTER
    ids = set(
        Interaction.objects.filter(processed_at__isnull=True, received_at__lt=cutoff).values_list(
            "id", flat=True
        )[:5000]
    )
    ids |= set(
        Response.objects.filter(processed_at__isnull=True, received_at__lt=cutoff).values_list(
            "interaction_id", flat=True
        )[:5000]
    )
    postprocess_enqueue(interaction_ids=sorted(ids))
    return len(ids)
