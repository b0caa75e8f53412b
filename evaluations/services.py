"""Writes for evaluations: flags (and, in the judges modules, scores)."""

from django.db import IntegrityError, transaction

from evaluations.models import SEVERITY_RANK, Flag
from shadow.models import Feedback, Interaction, Response


def flag_open(
    *,
    interaction: Interaction,
    response: Response | None,
    rule: str,
    severity: str,
    reason: str,
    score=None,
) -> Flag | None:
    """Open a flag once per (interaction, response, rule); a repeat returns None."""
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                agent_id=interaction.agent_id,
                interaction=interaction,
                response=response,
                version_id=response.version_id if response else None,
                score=score,
                rule=rule,
                severity=severity,
                severity_rank=SEVERITY_RANK[severity],
                reason=reason,
            )
    except IntegrityError:
        return None
    return flag


def flag_open_for_feedback(*, feedback: Feedback) -> Flag | None:
    comment = f": “{feedback.comment[:200]}”" if feedback.comment else ""
    return flag_open(
        interaction=feedback.interaction,
        response=feedback.response,
        rule="thumbs_down",
        severity="medium",
        reason=f"The user gave a thumbs-down{comment}",
    )


def scores_create_for_responses(*, response_ids: list[int]) -> int:
    """Create pending scores for the agent's enabled judges and enqueue them.

    Implemented by the judges pipeline (evaluations.pipeline); kept here as the one entry
    point ingest post-processing calls.
    """
    from evaluations.pipeline import scores_create_for_responses as create

    return create(response_ids=response_ids)
