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


# --- Reviews of flags (dashboard review queue) -----------------------------------------------

REVIEW_DECISIONS = ("confirmed", "dismissed", "escalated")
# Open flags take any decision; escalated ones wait for a final confirm or dismiss.
_REVIEWABLE_FROM = {
    "confirmed": ("open", "escalated"),
    "dismissed": ("open", "escalated"),
    "escalated": ("open",),
}


class FlagNotReviewable(Exception):
    """The flag already has a final decision (or the decision is unknown)."""


def flag_review(*, flag: Flag, user, decision: str, note: str = "") -> Flag:
    """Record a reviewer's decision on a flag: a Review row, the flag's new status, an event.

    The status check runs on the locked row, so two reviewers acting on the same flag at
    once give one decision and one FlagNotReviewable, never two reviews.
    """
    from django.utils import timezone

    from evaluations.models import Review

    if decision not in REVIEW_DECISIONS:
        raise FlagNotReviewable(f"unknown decision {decision!r}")
    note = (note or "").strip()[:2000]
    with transaction.atomic():
        locked = Flag.objects.select_for_update().select_related("agent").get(pk=flag.pk)
        if locked.status not in _REVIEWABLE_FROM[decision]:
            raise FlagNotReviewable(f"flag {locked.pk} is already {locked.status}")
        previous = locked.status
        locked.status = decision
        locked.reviewer = user
        locked.note = note
        locked.reviewed_at = timezone.now()
        locked.save(update_fields=["status", "reviewer", "note", "reviewed_at"])
        Review.objects.create(flag=locked, reviewer=user, decision=decision, note=note)
        _flag_reviewed_publish(flag=locked, previous=previous, user=user)
    return locked


def flags_review_bulk(*, flag_ids: list[int], user, decision: str, note: str = "") -> int:
    """Apply one decision to many flags; flags decided meanwhile are skipped. Returns the count."""
    done = 0
    for flag in Flag.objects.filter(pk__in=flag_ids).order_by("pk"):
        try:
            flag_review(flag=flag, user=user, decision=decision, note=note)
        except FlagNotReviewable:
            continue
        done += 1
    return done


def _flag_reviewed_publish(*, flag: Flag, previous: str, user) -> None:
    try:
        from rollouts.events import FLAG_REVIEWED, event_publish
    except ImportError:
        return
    event_publish(
        type=FLAG_REVIEWED,
        agent=flag.agent,
        payload={
            "flag": flag.pk,
            "interaction": flag.interaction_id,
            "rule": flag.rule,
            "severity": flag.severity,
            "from": previous,
            "decision": flag.status,
            "reviewer": getattr(user, "username", None),
            "note": flag.note,
        },
    )


# --- judges pipeline: pausing and resuming judges ---


def _judge_event(*, type: str, judge, payload: dict) -> None:
    try:
        from rollouts.events import event_publish
    except ImportError:
        return
    event_publish(type=type, agent=judge.agent, payload=payload)


def judge_pause(*, judge, reason: str, until=None) -> bool:
    """Stop a judge's calls with a reason operators see; its scores wait for the resume.

    ``until`` makes it resume by itself (the daily budget). A judge already paused keeps
    its first reason. Returns whether this call paused it.
    """
    from django.utils import timezone

    from evaluations.models import Judge

    now = timezone.now()
    with transaction.atomic():
        changed = Judge.objects.filter(pk=judge.pk, paused_reason="").update(
            paused_reason=reason[:2000] or "paused", paused_at=now, paused_until=until
        )
        if changed:
            _judge_event(
                type="judge.paused",
                judge=judge,
                payload={
                    "judge": judge.name,
                    "judge_id": judge.pk,
                    "kind": judge.kind,
                    "reason": reason,
                    "until": until.isoformat() if until else None,
                },
            )
    judge.refresh_from_db(fields=["paused_reason", "paused_at", "paused_until"])
    return bool(changed)


def judge_resume(*, judge, user=None) -> int:
    """Clear the pause and queue the judge's waiting scores. Returns how many were queued."""
    from evaluations import ratecap
    from evaluations.models import Judge
    from evaluations.pipeline import scores_requeue_for_judge

    with transaction.atomic():
        previous = (
            Judge.objects.select_for_update()
            .filter(pk=judge.pk)
            .values_list("paused_reason", flat=True)
        ).first()
        Judge.objects.filter(pk=judge.pk).update(
            paused_reason="", paused_at=None, paused_until=None
        )
        ratecap.failures_reset(judge_id=judge.pk)
        queued = scores_requeue_for_judge(judge_id=judge.pk)
        if previous:
            _judge_event(
                type="judge.resumed",
                judge=judge,
                payload={
                    "judge": judge.name,
                    "judge_id": judge.pk,
                    "kind": judge.kind,
                    "was": previous,
                    "by": getattr(user, "username", None) or "system",
                    "queued": queued,
                },
            )
    judge.refresh_from_db(fields=["paused_reason", "paused_at", "paused_until"])
    return queued


def judges_resume_due() -> int:
    """Resume judges whose pause had an end time that has passed (daily budgets)."""
    from django.utils import timezone

    from evaluations.models import Judge

    due = list(
        Judge.objects.select_related("agent").filter(
            paused_until__isnull=False, paused_until__lte=timezone.now()
        )
    )
    for judge in due:
        judge_resume(judge=judge)
    return len(due)


# --- end judges pipeline ---
