"""Judge health numbers: open work and failures from the score index, done from daily rows."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from evaluations.models import Judge, JudgeDailyUsage, Score
from evaluations.scoring import scores_run
from evaluations.selectors import judges_health
from shadow.processing import interactions_postprocess
from shadow.schemas import InteractionBatchIn
from shadow.services import interactions_ingest
from tests.evaluations.dashboard_support import demo_rollout, scored_pair
from tests.evaluations.judges_support import batch_item
from tests.factories import AgentFactory, user_with_role

SLUG = "support-bot"
KINDS = ("refusal", "pii_leak")


@pytest.fixture
def agent(db):
    agent = AgentFactory(slug=SLUG)
    for kind in KINDS:
        Judge.objects.create(agent=agent, name=kind, kind=kind)
    outcome = interactions_ingest(
        agent=agent,
        items=InteractionBatchIn(
            interactions=[batch_item(f"req-{i}", agent=SLUG) for i in range(4)]
        ).interactions,
    )
    interactions_postprocess(interaction_ids=outcome.interaction_ids)
    return agent


def scored(agent) -> None:
    scores_run(
        score_ids=list(
            Score.objects.filter(status=Score.Status.PENDING).values_list("id", flat=True)
        )
    )


def health(agent) -> dict[str, dict]:
    return {row["name"]: row for row in judges_health(agent=agent)}


def done_scores() -> dict[str, int]:
    return dict(
        Score.objects.filter(status=Score.Status.DONE)
        .values("judge__name")
        .annotate(n=Count("id"))
        .values_list("judge__name", "n")
    )


def test_done_count_is_the_number_of_done_scores(agent):
    scored(agent)
    assert {name: row["done"] for name, row in health(agent).items()} == done_scores()


def test_scored_work_leaves_the_queue(agent):
    scored(agent)
    assert {row["pending"] for row in health(agent).values()} == {0}


def test_waiting_scores_are_pending_and_none_done(agent):
    assert {(row["pending"], row["done"]) for row in health(agent).values()} == {(8, 0)}


def test_health_counts_only_open_and_failed_scores_in_the_score_table(agent):
    scored(agent)
    with CaptureQueriesContext(connection) as queries:
        judges_health(agent=agent)
    reads = [q["sql"] for q in queries if 'FROM "evaluations_score"' in q["sql"]]
    assert reads and not [sql for sql in reads if "'done'" in sql or '"status"' not in sql]


def test_judges_page_shows_the_done_count(agent, client):
    scored(agent)
    client.force_login(user_with_role("viewer"))
    html = client.get("/judges/").content.decode()
    assert f"{done_scores()['refusal']} done" in html


def test_migration_counts_the_scores_done_before_it(db):
    rollout = demo_rollout()
    for value in (0.2, 0.5, 0.9):
        scored_pair(rollout, production_value=0.5, candidate_value=value, verdict="win")
    JudgeDailyUsage.objects.all().delete()  # as before the daily rows counted done scores
    migration = importlib.import_module("evaluations.migrations.0004_judge_usage_scores_done")
    migration.scores_done_backfill(apps, None)
    counted = {row["name"]: row["done"] for row in judges_health(agent=rollout.agent)}
    assert counted == done_scores()
