"""Post-processing of ingested interactions; every step is safe to run twice."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluations.detectors.slices import compute_slices
from shadow.models import Interaction, Response

logger = logging.getLogger(__name__)


def metadata_slices(metadata: dict) -> list[str]:
    out = []
    for key in settings.SLICE_METADATA_KEYS:
        value = metadata.get(key)
        if isinstance(value, str | int | bool) and len(str(value)) <= 40:
            out.append(f"meta:{key}={value}")
    return out


def interactions_slice(*, interactions: list[Interaction]) -> None:
    now = timezone.now()
    for interaction in interactions:
        if interaction.opt_out:
            interaction.slices = []
        else:
            interaction.slices = compute_slices(
                input=interaction.input, expected_language=interaction.agent.expected_language
            )
        interaction.processed_at = now
    Interaction.objects.bulk_update(interactions, ["slices", "processed_at"])


def interactions_postprocess(*, interaction_ids: list[int]) -> int:
    """Compute slices, count new responses in rollups once, hand them to the judges."""
    from evaluations.rollups import version_rollups_add
    from evaluations.services import scores_create_for_responses

    with transaction.atomic():
        fresh = list(
            # of=("self",): lock only the interaction rows, never the shared agent row.
            Interaction.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
            .select_related("agent")
            .filter(id__in=interaction_ids, processed_at__isnull=True)
        )
        if fresh:
            interactions_slice(interactions=fresh)
        # Claiming with a conditional update makes a redelivered task count nothing twice.
        claimable = list(
            Response.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(interaction_id__in=interaction_ids, processed_at__isnull=True)
            .values_list("id", flat=True)
        )
        if not claimable:
            return 0
        Response.objects.filter(id__in=claimable, processed_at__isnull=True).update(
            processed_at=timezone.now()
        )
        responses = list(Response.objects.select_related("interaction").filter(id__in=claimable))
        version_rollups_add(
            responses=responses,
            slices_of=lambda r: [
                *r.interaction.slices,
                *metadata_slices(r.interaction.metadata or {}),
            ],
        )
        scores_create_for_responses(response_ids=claimable)
    return len(claimable)
