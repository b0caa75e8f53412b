"""From new responses to queued score tasks, and the sweep that finds anything left behind.

Score rows are the source of truth: they are created (pending) in the ingest transaction and
tasks only carry their ids, so a broker outage loses nothing: the sweeper enqueues again
what is due and never ran, and resets attempts whose worker died mid-score.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

import mmh3
from django.db import transaction
from django.utils import timezone

from evaluations.flag_rules import flags_for_response_errors, flags_publish
from evaluations.judges.base import JudgeKind, judge_instance
from evaluations.models import Judge, Score
from evaluations.scoring import batch_size_for
from rollouts.models import Rollout
from shadow.models import Response

logger = logging.getLogger(__name__)

# A pending score due this long ago was never picked up (its message was lost).
SWEEP_GRACE = timedelta(minutes=2)
# A running score claimed this long ago belongs to a worker that died (longer than the
# slowest possible scoring: four judge calls at the client's 30 s timeout).
STALE_RUNNING = timedelta(minutes=5)
SWEEP_LIMIT = 10_000
_SAMPLE_SPACE = 2**32


def sampled(*, external_id: str, sample_rate: float) -> bool:
    """Deterministic per interaction: a re-run picks the same ones, and both versions' answers
    to one input are sampled together so they can be compared."""
    if sample_rate >= 1:
        return True
    return mmh3.hash(external_id, 0, signed=False) < sample_rate * _SAMPLE_SPACE


def scores_create_for_responses(*, response_ids: list[int]) -> int:
    """Create pending scores for the agents' enabled judges and enqueue them after commit.

    Returns how many pending scores were enqueued. Pairwise scores need both the rollout's
    production and candidate answers; whichever arrives second creates the pair. Call inside
    the transaction that claimed the responses.
    """
    responses = list(
        Response.objects.filter(id__in=response_ids).select_related("interaction").order_by("id")
    )
    if not responses:
        return 0
    error_flags = flags_for_response_errors(responses=responses)
    rows = _score_rows(responses=responses)
    pending: list[tuple[int, int]] = []
    if rows:
        Score.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
        pending = list(
            Score.objects.filter(
                response_id__in={row.response_id for row in rows},
                judge_id__in={row.judge_id for row in rows},
                status=Score.Status.PENDING,
                attempts=0,
            ).values_list("id", "judge_id")
        )
        scores_enqueue(pending=pending)
    # Last, so the event stream's lock is held only until this transaction commits.
    flags_publish(flags=error_flags)
    return len(pending)


def _score_rows(*, responses: list[Response]) -> list[Score]:
    agent_ids = {r.agent_id for r in responses}
    judges_by_agent: dict[int, list[tuple[Judge, JudgeKind]]] = defaultdict(list)
    for judge in Judge.objects.filter(agent_id__in=agent_ids, enabled=True).order_by("id"):
        try:
            judges_by_agent[judge.agent_id].append((judge, judge_instance(judge)))
        except ValueError:
            logger.warning("judge %s has an unknown kind or bad params; skipped", judge.id)
    rollouts = {r.agent_id: r for r in Rollout.objects.filter(agent_id__in=agent_ids)}
    rows: list[Score] = []
    pairs_wanted = []
    for response in responses:
        interaction = response.interaction
        for judge, kind in judges_by_agent.get(response.agent_id, ()):
            if not sampled(external_id=interaction.external_id, sample_rate=judge.sample_rate):
                continue
            if kind.pairwise:
                pairs_wanted.append((judge, kind, response))
            elif kind.applies_to(interaction=interaction, response=response):
                rows.append(Score(judge=judge, interaction=interaction, response=response))
    return rows + _pair_rows(pairs_wanted=pairs_wanted, rollouts=rollouts)


def _pair_rows(*, pairs_wanted: list, rollouts: dict[int, Rollout]) -> list[Score]:
    """Pairwise scores: response = the candidate's answer, other_response = production's."""
    wanted: dict[int, list] = defaultdict(list)
    for judge, kind, response in pairs_wanted:
        rollout = rollouts.get(response.agent_id)
        if rollout is None or not rollout.production_id or not rollout.candidate_id:
            continue
        if response.version_id in (rollout.production_id, rollout.candidate_id):
            wanted[response.interaction_id].append((judge, kind, response, rollout))
    if not wanted:
        return []
    # Either side may have arrived in an earlier batch, so look both up in the database.
    sides: dict[int, dict[int, Response]] = defaultdict(dict)
    for answer in Response.objects.filter(interaction_id__in=wanted.keys()).select_related(
        "interaction"
    ):
        sides[answer.interaction_id][answer.version_id] = answer
    rows, seen = [], set()
    for interaction_id, entries in wanted.items():
        for judge, kind, _, rollout in entries:
            candidate = sides[interaction_id].get(rollout.candidate_id)
            production = sides[interaction_id].get(rollout.production_id)
            if candidate is None or production is None or (judge.id, candidate.id) in seen:
                continue
            interaction = candidate.interaction
            if not kind.applies_to(interaction=interaction, response=candidate):
                continue
            seen.add((judge.id, candidate.id))
            rows.append(
                Score(
                    judge=judge,
                    interaction=interaction,
                    response=candidate,
                    other_response=production,
                )
            )
    return rows


def scores_enqueue(*, pending: Iterable[tuple[int, int]]) -> None:
    """Queue (score id, judge id) pairs in batches per judge once the transaction commits."""
    by_judge: dict[int, list[int]] = defaultdict(list)
    for score_id, judge_id in pending:
        by_judge[judge_id].append(score_id)
    if not by_judge:
        return
    sizes = {}
    for judge in Judge.objects.filter(id__in=by_judge.keys()):
        try:
            sizes[judge.id] = batch_size_for(judge=judge, kind=judge_instance(judge))
        except ValueError:
            sizes[judge.id] = 1
    batches = []
    for judge_id, ids in sorted(by_judge.items()):
        size = sizes.get(judge_id, 1)
        ids.sort()
        batches += [ids[start : start + size] for start in range(0, len(ids), size)]
    transaction.on_commit(lambda: _send(batches))


def _send(batches: list[list[int]], countdown: float | None = None) -> None:
    from config.celery_app import task_send_safely
    from evaluations.tasks import score_batch_task

    for batch in batches:
        if not task_send_safely(score_batch_task, args=(batch,), countdown=countdown):
            # The broker is down; the rows are safe and the sweeper will queue them.
            return


def scores_retry_later(*, retry: dict[int, float]) -> None:
    """Queue scores that must wait (back-off, rate cap) with a countdown to their next try."""
    if not retry:
        return
    by_delay: dict[int, list[int]] = defaultdict(list)
    for score_id, seconds in retry.items():
        by_delay[int(seconds) + 1].append(score_id)
    for countdown, ids in sorted(by_delay.items()):
        _send([sorted(ids)], countdown=countdown)


def scores_sweep(*, grace: timedelta = SWEEP_GRACE, stale: timedelta = STALE_RUNNING) -> int:
    """Reset stale running scores, then queue pending ones that are overdue. Returns the count."""
    now = timezone.now()
    active = list(Judge.objects.filter(enabled=True, paused_reason="").values_list("id", flat=True))
    with transaction.atomic():
        reset = Score.objects.filter(
            status=Score.Status.RUNNING, claimed_at__lt=now - stale
        ).update(
            status=Score.Status.PENDING,
            claim="",
            next_attempt_at=now - grace - timedelta(seconds=1),
            last_error="the worker scoring this was lost; retrying",
        )
        if reset:
            logger.warning("reset %s scores whose worker was lost", reset)
        overdue = list(
            Score.objects.filter(
                status=Score.Status.PENDING,
                judge_id__in=active,
                next_attempt_at__lt=now - grace,
            )
            .order_by("next_attempt_at")
            .values_list("id", "judge_id")[:SWEEP_LIMIT]
        )
        # Created without a next-try time means "due at creation".
        overdue += list(
            Score.objects.filter(
                status=Score.Status.PENDING,
                judge_id__in=active,
                next_attempt_at__isnull=True,
                created_at__lt=now - grace,
            ).values_list("id", "judge_id")[:SWEEP_LIMIT]
        )
        # Pushing the due time forward keeps the next sweep from queueing them again while
        # these messages wait their turn.
        Score.objects.filter(id__in=[score_id for score_id, _ in overdue]).update(
            next_attempt_at=now
        )
        scores_enqueue(pending=overdue)
    return len(overdue)


def scores_requeue_for_judge(*, judge_id: int) -> int:
    """Queue every pending score of one judge now (after a resume)."""
    now = timezone.now()
    with transaction.atomic():
        pending = list(
            Score.objects.filter(judge_id=judge_id, status=Score.Status.PENDING).values_list(
                "id", "judge_id"
            )
        )
        Score.objects.filter(id__in=[score_id for score_id, _ in pending]).update(
            next_attempt_at=now
        )
        scores_enqueue(pending=pending)
    return len(pending)
