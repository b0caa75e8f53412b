"""Factories for rollout tests: rollup rows with exactly the numbers a test needs."""

from datetime import datetime, timedelta

import factory
from django.utils import timezone

from evaluations.models import Flag, Judge, ScoreRollup, VersionRollup
from evaluations.stats import LATENCY_BUCKETS_MS, histogram_bucket
from rollouts.models import Rollout
from tests.factories import AgentFactory, InteractionFactory


def this_hour() -> datetime:
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def latency_histogram(values_ms: list[float]) -> list[int]:
    counts = [0] * (len(LATENCY_BUCKETS_MS) - 1)
    for value in values_ms:
        counts[histogram_bucket(value_ms=value)] += 1
    return counts


class JudgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judge
        django_get_or_create = ("agent", "name")

    agent = factory.SubFactory(AgentFactory)
    name = factory.Sequence(lambda n: f"judge-{n}")
    kind = "llm_pairwise"


class ScoreRollupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScoreRollup

    agent = factory.LazyAttribute(lambda o: o.judge.agent)
    judge = factory.SubFactory(JudgeFactory)
    kind = ScoreRollup.Kind.PAIRWISE
    slice = ""
    bucket = factory.LazyFunction(this_hour)


class VersionRollupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VersionRollup

    agent = factory.LazyAttribute(lambda o: o.version.agent)
    slice = ""
    bucket = factory.LazyFunction(this_hour)


def pairwise_evidence(rollout: Rollout, *, wins: int, ties: int, losses: int, judge=None):
    judge = judge or JudgeFactory(agent=rollout.agent, name="pairwise", kind="llm_pairwise")
    return ScoreRollupFactory(
        judge=judge,
        version=rollout.candidate,
        baseline=rollout.production,
        kind=ScoreRollup.Kind.PAIRWISE,
        n=wins + ties + losses,
        wins=wins,
        ties=ties,
        losses=losses,
    )


def paired_evidence(rollout: Rollout, *, n: int, mean: float, sd: float, name: str = "rubric"):
    """Sums of n differences with the given mean and (population) standard deviation."""
    judge = JudgeFactory(agent=rollout.agent, name=name, kind="llm_rubric")
    return ScoreRollupFactory(
        judge=judge,
        version=rollout.candidate,
        baseline=rollout.production,
        kind=ScoreRollup.Kind.PAIRED,
        n=n,
        total=n * mean,
        total_sq=n * (sd * sd + mean * mean),
    )


def ops(version, *, responses: int, errors: int = 0, served: int = 0, latency_ms: float = 800,
        bucket: datetime | None = None, feedback_up: int = 0, feedback_down: int = 0,
        cost_usd: float = 0.0):  # fmt: skip
    return VersionRollupFactory(
        version=version,
        bucket=bucket or this_hour(),
        responses=responses,
        served=served,
        errors=errors,
        latency_n=responses,
        latency_total=latency_ms * responses,
        latency_histogram=latency_histogram([latency_ms] * responses),
        feedback_up=feedback_up,
        feedback_down=feedback_down,
        cost_usd=cost_usd,
    )


def passing_evidence(rollout: Rollout) -> None:
    """Clearly non-inferior candidate with healthy operations: the gate passes."""
    pairwise_evidence(rollout, wins=600, ties=200, losses=200)
    paired_evidence(rollout, n=1000, mean=0.02, sd=0.2)
    ops(rollout.production, responses=1000, errors=10, latency_ms=800)
    ops(rollout.candidate, responses=1000, errors=8, latency_ms=700)


def critical_flag(rollout: Rollout, *, created_at: datetime | None = None) -> Flag:
    interaction = InteractionFactory(agent=rollout.agent)
    flag = Flag.objects.create(
        agent=rollout.agent,
        interaction=interaction,
        version=rollout.candidate,
        rule="pii_leak",
        severity=Flag.Severity.CRITICAL,
        severity_rank=3,
    )
    if created_at is not None:
        Flag.objects.filter(pk=flag.pk).update(created_at=created_at)
    return flag


def hours_ago(hours: float) -> datetime:
    return timezone.now() - timedelta(hours=hours)
