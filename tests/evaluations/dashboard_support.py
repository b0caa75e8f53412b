"""Builders for dashboard tests: real rows, counted into the rollups by the real rollup code.

Done scores are also counted into their judges' daily usage rows, as the pipeline does.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from evaluations.budgets import usage_add
from evaluations.models import Flag, Judge, Score
from evaluations.rollups import score_rollups_add, version_rollups_add
from rollouts.models import Rollout
from shadow.models import Interaction, Response
from shadow.processing import metadata_slices
from tests.factories import InteractionFactory, ResponseFactory, RolloutFactory
from tests.rollouts.factories import JudgeFactory


def demo_rollout(slug: str = "support-bot") -> Rollout:
    from tests.factories import AgentFactory

    return RolloutFactory(agent=AgentFactory(slug=slug, name=slug.replace("-", " ").title()))


def judges_for(rollout: Rollout) -> tuple[Judge, Judge]:
    """A pointwise rubric judge and a pairwise judge for the rollout's agent."""
    rubric = JudgeFactory(agent=rollout.agent, name="rubric", kind="llm_rubric")
    pairwise = JudgeFactory(agent=rollout.agent, name="pairwise", kind="llm_pairwise")
    return rubric, pairwise


def scored_pair(
    rollout: Rollout,
    *,
    production_value: float,
    candidate_value: float,
    verdict: str,
    created_at: datetime | None = None,
    slices: list[str] | None = None,
    metadata: dict | None = None,
    input: str = "How do I reset my password?",
    production_output: str = "Use the reset link on the sign-in page.",
    candidate_output: str = "Click 'Forgot password' on the sign-in page.",
    candidate_error: str = "",
    inconsistent: bool = False,
    rationale: str = "Clear and correct.",
) -> Interaction:
    """One interaction answered by both versions, scored by both judges, counted in rollups."""
    rubric, pairwise = judges_for(rollout)
    created_at = created_at or timezone.now()
    interaction = InteractionFactory(
        agent=rollout.agent,
        input=input,
        created_at=created_at,
        slices=slices or [],
        metadata=metadata or {},
        processed_at=created_at,
    )
    production = ResponseFactory(
        interaction=interaction,
        version=rollout.production,
        served=True,
        output=production_output,
        created_at=created_at,
        latency_ms=800,
    )
    candidate = ResponseFactory(
        interaction=interaction,
        version=rollout.candidate,
        served=False,
        output=candidate_output,
        error=candidate_error,
        created_at=created_at,
        latency_ms=600,
    )
    scores = [
        _done(rubric, interaction, production, value=production_value, rationale=rationale),
        _done(rubric, interaction, candidate, value=candidate_value, rationale=rationale),
        _done(
            pairwise,
            interaction,
            candidate,
            other=production,
            value={"win": 1.0, "tie": 0.5, "loss": 0.0}[verdict],
            verdict=verdict,
            details={"position_inconsistent": inconsistent},
            rationale={"win": "Candidate wins.", "tie": "A tie.", "loss": "Candidate loses."}[
                verdict
            ],
        ),
    ]
    score_rollups_add(scores=scores)
    for judge, done in ((rubric, 2), (pairwise, 1)):
        usage_add(
            judge_id=judge.pk, calls=0, tokens_in=0, tokens_out=0, cost_usd=Decimal(0),
            scores_done=done,
        )  # fmt: skip
    version_rollups_add(
        responses=[production, candidate],
        slices_of=lambda r: [*interaction.slices, *metadata_slices(interaction.metadata)],
    )
    return interaction


def _done(
    judge: Judge,
    interaction: Interaction,
    response: Response,
    *,
    value: float,
    other: Response | None = None,
    verdict: str = "",
    details: dict | None = None,
    rationale: str = "",
) -> Score:
    score = Score.objects.create(
        judge=judge,
        interaction=interaction,
        response=response,
        other_response=other,
        status=Score.Status.DONE,
        value=value,
        verdict=verdict,
        details=details or {},
        rationale=rationale,
        finished_at=timezone.now(),
    )
    # The rollup code reads these relations; load them the way the pipeline does.
    return Score.objects.select_related("judge", "interaction", "response", "other_response").get(
        pk=score.pk
    )


def open_flag(
    interaction: Interaction,
    *,
    severity: str = "high",
    rule: str = "llm_rubric_low",
    candidate: bool = True,
    score: Score | None = None,
    status: str = Flag.Status.OPEN,
) -> Flag:
    from evaluations.models import SEVERITY_RANK

    response = interaction.responses.get(served=not candidate)
    return Flag.objects.create(
        agent=interaction.agent,
        interaction=interaction,
        response=response,
        version=response.version,
        score=score,
        rule=rule,
        severity=severity,
        severity_rank=SEVERITY_RANK[severity],
        reason=f"{rule} on {response.version.name}",
        status=status,
    )
