"""Running scores: claim them, ask the judges, record every result exactly once.

A score moves pending → running → done|failed through conditional updates. The claim is
``"<task id>:<nonce>"``: a redelivered task (same id, its worker died) may take its own rows
back, and every result write checks the whole claim, so a late duplicate writes nothing.
Spend is recorded in the same transaction as the score, hence charged once.

Only malformed model output and judge bugs fail a score. Transient errors put it back to
pending with a next-try time (exponential back-off shared by the whole judge, honouring
Retry-After); permanent errors pause the judge and leave its scores waiting.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
from collections import defaultdict
from collections.abc import Callable
from concurrent import futures as cf
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from evaluations import budgets, ratecap
from evaluations.flag_rules import flags_for_scores, flags_publish
from evaluations.judges.base import JudgeKind, Verdict, judge_instance
from evaluations.llm import MalformedOutputError, PermanentLLMError, TransientLLMError
from evaluations.models import Judge, Score, ScoreRollup
from evaluations.rollups import pair_locks_take, score_rollups_add

logger = logging.getLogger(__name__)

# Celery may start a countdown task a moment before the row's next-try time.
DUE_TOLERANCE = timedelta(seconds=1)
OFFLINE_BATCH = 500
DEFAULT_LLM_BATCH = 64
# Calls in flight at once per task; a batch larger than this amortises the task's database
# work over several rounds of network waiting.
DEFAULT_LLM_THREADS = 4
MAX_TEXT_IN_DETAILS = 4000


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off 1, 2, 4 … s capped, plus up to ``jitter`` extra, never sooner
    than the server's Retry-After (itself honoured up to ``retry_after_cap_s``)."""

    base_s: float = 1.0
    cap_s: float = 60.0
    jitter: float = 0.25
    retry_after_cap_s: float = 3600.0

    def delay(self, *, failures: int, retry_after: float | None = None) -> float:
        backoff = min(self.cap_s, self.base_s * 2 ** max(failures - 1, 0))
        wait = max(backoff, min(retry_after or 0.0, self.retry_after_cap_s))
        return wait * (1 + random.uniform(0, self.jitter))  # noqa: S311 - spreading, not secrecy


RETRY_POLICY = RetryPolicy()


@dataclass
class _Outcome:
    score: Score
    verdict: Verdict | None = None
    failure: str = ""  # the score fails for good (malformed output, a judge bug)
    raw: str = ""
    retry_in: float | None = None  # back to pending, due again in this many seconds
    hold: bool = False  # back to pending without a retry: the judge is paused
    error: str = ""
    called: bool = False  # the judge actually ran: counts as an attempt
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    calls: int = 0


@dataclass
class RunReport:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    held: int = 0
    retry: dict[int, float] = field(default_factory=dict)  # score id -> seconds until due


def scores_run(*, score_ids: list[int], task_id: str = "") -> RunReport:
    """Score whichever of these rows are due and whose judge is active."""
    report = RunReport()
    claim = _claim(score_ids=score_ids, task_id=task_id)
    rows = list(
        Score.objects.filter(id__in=score_ids, claim=claim, status=Score.Status.RUNNING)
        .select_related("interaction", "response", "other_response")
        .only(*_LOADED_FIELDS)
        .order_by("id")
    )
    report.claimed = len(rows)
    if not rows:
        return report
    # One Judge object per judge rather than one per row: judging a batch is cheap enough
    # that building model instances shows up in the profile.
    judges = Judge.objects.select_related("agent").in_bulk({row.judge_id for row in rows})
    by_judge: dict[int, list[Score]] = defaultdict(list)
    for row in rows:
        row.judge = judges[row.judge_id]
        by_judge[row.judge_id].append(row)

    def finish(outcomes: list[_Outcome]) -> None:
        if outcomes:
            _finish(claim=claim, outcomes=outcomes, report=report)

    offline: list[_Outcome] = []
    for items in by_judge.values():
        judge = items[0].judge
        try:
            kind = judge_instance(judge)
        except ValueError as exc:
            # An unknown kind or bad params: nothing will work until an operator fixes it.
            finish(_hold_all(items, judge=judge, reason=f"judge configuration error: {exc}"))
            continue
        if kind.uses_llm:
            _run_llm(judge=judge, kind=kind, items=items, finish=finish)
        else:
            offline += [_run_one(kind=kind, score=item) for item in items]
    finish(offline)
    return report


_ANSWER_FIELDS = (
    "id",
    "interaction_id",
    "agent_id",
    "version_id",
    "served",
    "output",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "error",
    "created_at",
)
_LOADED_FIELDS = (
    "id",
    "judge_id",
    "status",
    "attempts",
    "details",
    *(f"interaction__{name}" for name in (
        "id", "agent_id", "external_id", "input", "metadata", "opt_out", "slices", "created_at",
    )),
    *(f"response__{name}" for name in _ANSWER_FIELDS),
    *(f"other_response__{name}" for name in _ANSWER_FIELDS),
)  # fmt: skip


def _claim(*, score_ids: list[int], task_id: str) -> str:
    now = timezone.now()
    judge_ids = set(Score.objects.filter(id__in=score_ids).values_list("judge_id", flat=True))
    active = list(
        Judge.objects.filter(id__in=judge_ids, enabled=True, paused_reason="").values_list(
            "id", flat=True
        )
    )
    claim = f"{task_id or 'direct'}:{secrets.token_hex(6)}"
    due = Q(status=Score.Status.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + DUE_TOLERANCE)
    )
    if task_id:
        due |= Q(status=Score.Status.RUNNING, claim__startswith=f"{task_id}:")
    # Only the score's own columns in the WHERE clause: PostgreSQL re-checks them after a
    # concurrent update, so two workers can never both claim one row.
    Score.objects.filter(id__in=score_ids, judge_id__in=active).filter(due).update(
        status=Score.Status.RUNNING, claim=claim, claimed_at=now
    )
    return claim


def _run_one(*, kind: JudgeKind, score: Score) -> _Outcome:
    try:
        verdict = kind.score(
            interaction=score.interaction, response=score.response, other=score.other_response
        )
    except Exception as exc:  # a judge bug fails this score, never the whole batch
        logger.exception("judge %s failed on score %s", score.judge_id, score.id)
        return _Outcome(score=score, failure=f"judge error: {exc!r}"[:2000], called=True)
    return _Outcome(score=score, verdict=verdict, called=True)


def _hold_all(items: list[Score], *, judge: Judge, reason: str) -> list[_Outcome]:
    from evaluations.services import judge_pause

    judge_pause(judge=judge, reason=reason)
    return [_Outcome(score=item, hold=True, error=reason) for item in items]


def _run_llm(
    *,
    judge: Judge,
    kind: JudgeKind,
    items: list[Score],
    finish: Callable[[list[_Outcome]], None],
) -> None:
    from evaluations.services import judge_pause

    usage = budgets.usage_today(judge_id=judge.id)
    if budgets.budget_exhausted(judge=judge, usage=usage):
        judge_pause(judge=judge, reason=budgets.BUDGET_REASON, until=budgets.next_utc_midnight())
        finish([_Outcome(score=item, hold=True, error=budgets.BUDGET_REASON) for item in items])
        return
    cooling = ratecap.cooldown_remaining(judge_id=judge.id)
    if cooling > 0:
        finish([_wait(item, cooling, "judge endpoint backing off") for item in items])
        return

    admitted: list[tuple[Score, int]] = []
    waiting: list[_Outcome] = []
    for index, item in enumerate(items):
        estimate = kind.estimated_tokens(
            interaction=item.interaction, response=item.response, other=item.other_response
        )
        admission = ratecap.rate_acquire(
            judge_id=judge.id,
            requests_per_minute=judge.requests_per_minute,
            tokens_per_minute=judge.tokens_per_minute,
            tokens=estimate,
        )
        if not admission.allowed:
            wait = admission.wait_s * (1 + random.uniform(0, 0.1))  # noqa: S311
            waiting += [_wait(rest, wait, "rate cap reached") for rest in items[index:]]
            break
        admitted.append((item, estimate))

    # Calls only wait on the network, so they run side by side on a thread pool while this
    # thread records finished ones: the database work overlaps the calls still in flight.
    threads = max(1, int((judge.params or {}).get("concurrency", DEFAULT_LLM_THREADS)))
    pool = _call_pool(threads)
    calls = {
        pool.submit(_call_llm, kind=kind, score=item): (item, estimate)
        for item, estimate in admitted
    }
    chunk: list[_Outcome] = []
    paused = succeeded = False
    in_flight = set(calls)
    while in_flight:
        completed, in_flight = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
        for future in completed:
            item, estimate = calls[future]
            result = future.result()
            if isinstance(result, PermanentLLMError) and not paused:
                judge_pause(judge=judge, reason=result.reason)
                paused = True
            outcome = _llm_outcome(
                judge=judge, kind=kind, score=item, estimate=estimate, result=result
            )
            succeeded = succeeded or outcome.verdict is not None
            chunk.append(outcome)
        # Record what has come back while the rest is still in flight; everything that
        # completes meanwhile goes into the next, larger write.
        if in_flight and len(chunk) >= 2 * threads:
            finish(chunk)
            chunk = []
    finish(chunk + waiting)
    if succeeded:
        ratecap.failures_reset(judge_id=judge.id)


_CALL_POOLS: dict[int, cf.ThreadPoolExecutor] = {}


def _call_pool(threads: int) -> cf.ThreadPoolExecutor:
    """One long-lived pool per size and process: starting threads per batch is not free."""
    pool = _CALL_POOLS.get(threads)
    if pool is None:
        pool = _CALL_POOLS[threads] = cf.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="judge-call"
        )
    return pool


# A prefork child must not inherit the parent's pool threads (they do not survive a fork).
os.register_at_fork(after_in_child=_CALL_POOLS.clear)


def _wait(score: Score, seconds: float, why: str) -> _Outcome:
    return _Outcome(score=score, retry_in=seconds, error=why)


def _call_llm(*, kind: JudgeKind, score: Score) -> Verdict | Exception:
    try:
        return kind.score(
            interaction=score.interaction, response=score.response, other=score.other_response
        )
    except Exception as exc:  # returned, not raised: the caller sorts outcomes by type
        return exc


def _llm_outcome(
    *, judge: Judge, kind: Any, score: Score, estimate: int, result: Verdict | Exception
) -> _Outcome:
    if isinstance(result, Verdict):
        ratecap.tokens_debit(
            judge_id=judge.id,
            tokens_per_minute=judge.tokens_per_minute,
            extra_tokens=result.tokens_in + result.tokens_out - estimate,
        )
        return _Outcome(score=score, verdict=result, called=True)
    if isinstance(result, TransientLLMError):
        failures = ratecap.failures_record(judge_id=judge.id)
        delay = RETRY_POLICY.delay(failures=failures, retry_after=result.retry_after)
        # Every worker leaves the endpoint alone for as long, not just this score.
        ratecap.cooldown_start(judge_id=judge.id, seconds=delay)
        return _Outcome(score=score, retry_in=delay, error=result.message, called=True)
    if isinstance(result, PermanentLLMError):
        return _Outcome(score=score, hold=True, error=result.reason, called=True)
    if isinstance(result, MalformedOutputError):
        cost = kind.cost_usd(tokens_in=result.tokens_in, tokens_out=result.tokens_out)
        return _Outcome(
            score=score,
            failure="the judge model's answer was not the expected JSON, also with the "
            f"simplified prompt: {result.reason}",
            raw=result.raw,
            called=True,
            tokens_in=result.tokens_in,
            tokens_out=result.tokens_out,
            cost_usd=cost,
            calls=2 * (2 if kind.pairwise else 1),
        )
    logger.error("judge %s failed on score %s", judge.id, score.id, exc_info=result)
    return _Outcome(score=score, failure=f"judge error: {result!r}"[:2000], called=True)


def _finish(*, claim: str, outcomes: list[_Outcome], report: RunReport) -> None:
    """Record outcomes in one transaction. Lock order, the same in every worker: pair locks,
    own score rows, usage row, rollup cells (sorted), judge rows, event streams."""
    now = timezone.now()
    finished = [o for o in outcomes if o.verdict is not None or o.failure]
    with transaction.atomic():
        pair_locks_take(interaction_ids=[o.score.interaction_id for o in finished])
        owned = set(
            Score.objects.select_for_update()
            .filter(id__in=[o.score.id for o in outcomes], claim=claim)
            .order_by("id")
            .values_list("id", flat=True)
        )
        outcomes = [o for o in outcomes if o.score.id in owned]
        done, failed, waiting = [], [], []
        for outcome in outcomes:
            score = outcome.score
            score.attempts += int(outcome.called)
            score.claim = ""
            if outcome.verdict is not None:
                _apply_verdict(score, outcome.verdict, now)
                done.append(score)
            elif outcome.failure:
                _apply_failure(score, outcome, now)
                failed.append(score)
            else:
                _apply_wait(score, outcome, now)
                waiting.append(score)
                if outcome.retry_in is not None:
                    report.retry[score.id] = outcome.retry_in
                else:
                    report.held += 1
        for rows, fields in ((done, _DONE_FIELDS), (failed, _DONE_FIELDS), (waiting, _WAIT_FIELDS)):
            _rows_write(rows=rows, fields=(*fields, "updated_at"))
        over_budget = _usage_record(
            outcomes=[o for o in outcomes if o.verdict is not None or o.failure]
        )
        score_rollups_add(scores=done)
        new_flags = flags_for_scores(scores=done)
        _position_inconsistency_update(scores=done)
        _budget_pauses(judges=over_budget)
        _events_publish(scores=[*done, *failed], flags=new_flags)
    report.done += len(done)
    report.failed += len(failed)


_DONE_FIELDS = (
    "status",
    "value",
    "verdict",
    "label",
    "rationale",
    "details",
    "attempts",
    "last_error",
    "next_attempt_at",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "finished_at",
    "claim",
)


# SQL types of the columns written in bulk, for PostgreSQL's jsonb_to_recordset().
_COLUMN_TYPES = {
    "status": "text",
    "value": "float8",
    "verdict": "text",
    "label": "text",
    "rationale": "text",
    "details": "jsonb",
    "attempts": "int4",
    "last_error": "text",
    "next_attempt_at": "timestamptz",
    "tokens_in": "int4",
    "tokens_out": "int4",
    "cost_usd": "numeric",
    "finished_at": "timestamptz",
    "claim": "text",
    "updated_at": "timestamptz",
}


def _rows_write(*, rows: list[Score], fields: tuple[str, ...]) -> None:
    """Write these fields of many rows in one statement.

    Django's bulk_update builds a CASE expression per field and row, which costs more CPU
    than the judging itself; on PostgreSQL the rows travel as one JSON document instead.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        Score.objects.bulk_update(rows, list(fields))
        return
    document = json.dumps(
        [{"id": row.pk, **{name: getattr(row, name) for name in fields}} for row in rows],
        cls=DjangoJSONEncoder,
    )
    columns = {f.name: f.column for f in Score._meta.concrete_fields if f.name in fields}
    record = ", ".join(["id int8", *(f"{name} {_COLUMN_TYPES[name]}" for name in fields)])
    assignments = ", ".join(f"{columns[name]} = v.{name}" for name in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Score._meta.db_table} AS s SET {assignments} "  # noqa: S608 - our names
            f"FROM jsonb_to_recordset(%s::jsonb) AS v({record}) WHERE s.id = v.id",
            [document],
        )


def _apply_verdict(score: Score, verdict: Verdict, now: datetime) -> None:
    score.status = Score.Status.DONE
    score.value = verdict.value
    score.verdict = verdict.verdict
    score.label = verdict.label
    score.rationale = verdict.rationale
    score.details = verdict.details
    score.last_error = ""
    score.next_attempt_at = None
    score.tokens_in = verdict.tokens_in
    score.tokens_out = verdict.tokens_out
    score.cost_usd = _money(verdict.cost_usd)
    score.finished_at = now
    score.updated_at = now


def _apply_failure(score: Score, outcome: _Outcome, now: datetime) -> None:
    score.status = Score.Status.FAILED
    score.last_error = outcome.failure[:2000]
    score.label = "failed"
    score.details = {**(score.details or {}), "raw_output": outcome.raw[:MAX_TEXT_IN_DETAILS]}
    score.next_attempt_at = None
    score.tokens_in = outcome.tokens_in
    score.tokens_out = outcome.tokens_out
    score.cost_usd = _money(outcome.cost_usd)
    score.finished_at = now
    score.updated_at = now


def _apply_wait(score: Score, outcome: _Outcome, now: datetime) -> None:
    score.status = Score.Status.PENDING
    score.last_error = outcome.error[:2000]
    delay = timedelta(seconds=outcome.retry_in) if outcome.retry_in is not None else timedelta(0)
    score.next_attempt_at = now + delay
    score.updated_at = now


_WAIT_FIELDS = ("status", "last_error", "next_attempt_at", "attempts", "claim")


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 6)))


def _usage_record(*, outcomes: list[_Outcome]) -> list[Judge]:
    """Add today's spend and done scores per judge; returns the judges whose budget it used up.

    The done counts summed over the days are the judges page's "done" column, so it never
    has to count the score table.
    """
    spend: dict[int, list] = defaultdict(lambda: [0, 0, 0, Decimal(0), 0])
    judges: dict[int, Judge] = {}
    for outcome in outcomes:
        source: Any = outcome.verdict if outcome.verdict is not None else outcome
        if not source.calls and outcome.verdict is None:
            continue
        totals = spend[outcome.score.judge_id]
        totals[0] += source.calls
        totals[1] += source.tokens_in
        totals[2] += source.tokens_out
        totals[3] += _money(source.cost_usd)
        totals[4] += int(outcome.verdict is not None)
        judges[outcome.score.judge_id] = outcome.score.judge
    over_budget = []
    for judge_id, (calls, tokens_in, tokens_out, cost, done) in sorted(spend.items()):
        budgets.usage_add(
            judge_id=judge_id,
            calls=calls,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            scores_done=done,
        )
        judge = judges[judge_id]
        if not calls or (judge.daily_token_budget is None and judge.daily_cost_budget_usd is None):
            continue
        if budgets.budget_exhausted(judge=judge, usage=budgets.usage_today(judge_id=judge_id)):
            over_budget.append(judge)
    return over_budget


def _budget_pauses(*, judges: list[Judge]) -> None:
    from evaluations.services import judge_pause

    for judge in judges:
        judge_pause(judge=judge, reason=budgets.BUDGET_REASON, until=budgets.next_utc_midnight())


def _events_publish(*, scores: list[Score], flags: list) -> None:
    try:
        from rollouts.events import event_publish
    except ImportError:
        return
    by_judge: dict[int, list[Score]] = defaultdict(list)
    for score in scores:
        by_judge[score.judge_id].append(score)
    for judge_id, rows in sorted(by_judge.items()):
        judge = rows[0].judge
        event_publish(
            type="score.recorded",
            agent=judge.agent,
            payload={
                "judge": judge.name,
                "judge_id": judge_id,
                "kind": judge.kind,
                "done": sum(1 for r in rows if r.status == Score.Status.DONE),
                "failed": sum(1 for r in rows if r.status == Score.Status.FAILED),
                "scores": [r.id for r in rows[:100]],
            },
        )
    flags_publish(flags=flags)


def _position_inconsistency_update(*, scores: list[Score]) -> None:
    judge_ids = {s.judge_id for s in scores if s.other_response_id is not None}
    for judge_id in sorted(judge_ids):
        sums = ScoreRollup.objects.filter(
            judge_id=judge_id, kind=ScoreRollup.Kind.PAIRWISE, slice=""
        ).aggregate(n=Sum("n"), inconsistent=Sum("inconsistent"))
        if sums["n"]:
            Judge.objects.filter(pk=judge_id).update(
                position_inconsistency_rate=sums["inconsistent"] / sums["n"]
            )


def batch_size_for(*, judge: Judge, kind: JudgeKind) -> int:
    """How many scores one task takes: few for network judges so calls spread over workers."""
    if kind.uses_llm:
        return max(1, int((judge.params or {}).get("batch_size", DEFAULT_LLM_BATCH)))
    return OFFLINE_BATCH
