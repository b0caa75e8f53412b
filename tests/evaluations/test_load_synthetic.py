import io

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum

from evaluations.models import Flag, Score, ScoreRollup, VersionRollup
from shadow.models import Interaction, Response

N = 300


@pytest.fixture
def loaded(transactional_db):
    call_command("load_synthetic", agent="synthetic-bot", n=N, days=2, stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip


def all_traffic(kind: str):
    return ScoreRollup.objects.filter(kind=kind, slice="").aggregate(
        n=Sum("n"), total=Sum("total"), wins=Sum("wins")
    )


def test_every_interaction_has_both_answers_and_three_scores(loaded):
    counts = (Interaction.objects.count(), Response.objects.count(), Score.objects.count())
    assert counts == (N, 2 * N, 3 * N)


def test_pointwise_rollups_count_every_rubric_score(loaded):
    assert all_traffic("pointwise")["n"] == Score.objects.filter(judge__name="rubric").count()


def test_paired_rollups_sum_the_per_interaction_differences(loaded):
    values = {
        (s.interaction_id, s.response.served): s.value
        for s in Score.objects.filter(judge__name="rubric").select_related("response")
    }
    expected = sum(values[(i, False)] - values[(i, True)] for i, served in values if served)
    assert all_traffic("paired")["total"] == pytest.approx(expected, abs=1e-3)


def test_pairwise_rollups_count_the_candidate_wins(loaded):
    wins = Score.objects.filter(judge__name="pairwise", verdict="win").count()
    assert all_traffic("pairwise")["wins"] == wins


def test_version_rollups_count_every_response(loaded):
    responses = VersionRollup.objects.filter(slice="").aggregate(total=Sum("responses"))["total"]
    assert responses == 2 * N


def test_flags_point_at_low_candidate_scores(loaded):
    flagged = Flag.objects.values_list("score__value", flat=True)
    assert flagged and all(value < 0.2 for value in flagged)


def test_loading_twice_adds_to_the_same_rollup_cells(loaded):
    call_command("load_synthetic", agent="synthetic-bot", n=N, days=2, seed=8,
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    duplicates = (
        ScoreRollup.objects.values("judge", "version", "baseline", "kind", "slice", "bucket")
        .annotate(c=Count("id"))
        .filter(c__gt=1)
    )
    assert (all_traffic("pairwise")["n"], duplicates.count()) == (2 * N, 0)


def test_rebuilding_indexes_restores_every_index(transactional_db):
    from django.db import connection

    def index_names() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename IN "
                "('shadow_interaction', 'shadow_response', 'evaluations_score', 'evaluations_flag')"
            )
            return {row[0] for row in cursor.fetchall()}

    before = index_names()
    call_command("load_synthetic", agent="synthetic-bot", n=50, rebuild_indexes=True,
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    assert index_names() == before


def test_judges_done_counts_match_the_loaded_scores(loaded):
    from evaluations.selectors import judges_health

    counted = {row["name"]: row["done"] for row in judges_health()}
    loaded_scores = dict(
        Score.objects.filter(status="done")
        .values("judge__name")
        .annotate(n=Count("id"))
        .values_list("judge__name", "n")
    )
    assert counted == loaded_scores
