import json
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from evaluations import stats
from evaluations.comparison import comparison_summary, comparison_window
from evaluations.templatetags.dashboard import percent_estimate, signed_estimate
from tests.evaluations.dashboard_support import demo_rollout, scored_pair
from tests.factories import api_key_for, user_with_role

PRODUCTION = [0.6, 0.7, 0.8, 0.5, 0.9, 0.6, 0.7, 0.4]
CANDIDATE = [0.7, 0.7, 0.9, 0.6, 0.8, 0.8, 0.7, 0.6]
VERDICTS = ["win", "tie", "win", "win", "loss", "win", "tie", "win"]


@pytest.fixture
def rollout(db):
    rollout = demo_rollout()
    for prod, cand, verdict in zip(PRODUCTION, CANDIDATE, VERDICTS, strict=True):
        scored_pair(rollout, production_value=prod, candidate_value=cand, verdict=verdict)
    return rollout


@pytest.fixture
def viewer_client(client, db):
    client.force_login(user_with_role("viewer"))
    return client


def summary_of(rollout, *, a=None, b=None):
    since, until = comparison_window()
    return comparison_summary(
        agent=rollout.agent,
        version_a=a or rollout.production,
        version_b=b or rollout.candidate,
        since=since,
        until=until,
    )


def test_paired_difference_is_the_mean_of_per_interaction_differences(rollout):
    rubric = summary_of(rollout)["pointwise"][0]
    differences = np.subtract(CANDIDATE, PRODUCTION)
    assert rubric["difference"]["estimate"] == pytest.approx(differences.mean())


def test_paired_difference_interval_comes_from_stats_module(rollout):
    rubric = summary_of(rollout)["pointwise"][0]
    differences = np.subtract(CANDIDATE, PRODUCTION)
    expected = stats.paired_difference_ci(
        n=len(differences),
        total=float(differences.sum()),
        total_sq=float((differences**2).sum()),
    )
    assert (rubric["difference"]["lower"], rubric["difference"]["upper"]) == pytest.approx(
        (expected.lower, expected.upper)
    )


def test_each_version_mean_carries_its_sample_size(rollout):
    rubric = summary_of(rollout)["pointwise"][0]
    assert (rubric["a"]["n"], rubric["b"]["n"]) == (len(PRODUCTION), len(CANDIDATE))


def test_pairwise_win_rate_counts_ties_as_half(rollout):
    pairwise = summary_of(rollout)["pairwise"][0]
    wins, ties = VERDICTS.count("win"), VERDICTS.count("tie")
    assert pairwise["win_rate"]["estimate"] == pytest.approx((wins + ties / 2) / len(VERDICTS))


def test_swapping_versions_mirrors_the_comparison(rollout):
    forward = summary_of(rollout)
    backward = summary_of(rollout, a=rollout.candidate, b=rollout.production)
    assert (
        backward["pointwise"][0]["difference"]["estimate"],
        backward["pairwise"][0]["wins"],
    ) == pytest.approx(
        (-forward["pointwise"][0]["difference"]["estimate"], forward["pairwise"][0]["losses"])
    )


def test_position_inconsistency_rate_is_reported_with_its_n(db):
    rollout = demo_rollout()
    for inconsistent in (True, False, False, False):
        scored_pair(
            rollout,
            production_value=0.5,
            candidate_value=0.5,
            verdict="tie",
            inconsistent=inconsistent,
        )
    rate = summary_of(rollout)["pairwise"][0]["inconsistency_rate"]
    assert (rate["estimate"], rate["n"]) == (0.25, 4)


def test_win_rate_timeline_ends_at_the_overall_win_rate(rollout):
    summary = summary_of(rollout)
    last = summary["timeline"][0]["points"][-1]
    assert last["estimate"] == pytest.approx(summary["pairwise"][0]["win_rate"]["estimate"])


def test_latency_quantiles_come_from_the_rollup_histogram(rollout):
    ops = summary_of(rollout)["ops"]["b"]
    expected = stats.quantile_from_histogram(
        bucket_edges=stats.LATENCY_BUCKETS_MS, counts=ops["latency_histogram"], q=0.95
    )
    assert ops["latency_p95_ms"] == expected


def test_slice_where_the_candidate_loses_is_marked_worse(db):
    rollout = demo_rollout()
    for _ in range(12):
        scored_pair(
            rollout,
            production_value=0.9,
            candidate_value=0.2,
            verdict="loss",
            slices=["adversarial"],
        )
    for _ in range(12):
        scored_pair(rollout, production_value=0.5, candidate_value=0.9, verdict="win")
    rows = {row["slice"]: row for row in summary_of(rollout)["slices"]}
    assert rows["adversarial"]["worse"] and not rows[""]["worse"]


def test_metadata_slices_appear_in_the_slice_table(db):
    rollout = demo_rollout()
    scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.6,
        verdict="win",
        metadata={"channel": "email"},
    )
    slices = {row["slice"] for row in summary_of(rollout)["slices"]}
    assert "meta:channel=email" in slices


def test_scores_outside_the_window_are_left_out(db):
    rollout = demo_rollout()
    scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.6,
        verdict="win",
        created_at=timezone.now() - timedelta(days=20),
    )
    assert summary_of(rollout)["paired_samples"] == 0


def test_compare_page_shows_difference_with_interval(viewer_client, rollout):
    response = viewer_client.get(f"/agents/{rollout.agent.slug}/compare/")
    expected = signed_estimate(summary_of(rollout)["pointwise"][0]["difference"])
    assert expected in response.content.decode()


def test_compare_page_shows_win_rate_with_interval(viewer_client, rollout):
    response = viewer_client.get(f"/agents/{rollout.agent.slug}/compare/")
    expected = percent_estimate(summary_of(rollout)["pairwise"][0]["win_rate"])
    assert expected in response.content.decode()


def test_compare_page_embeds_figures_as_json_data(viewer_client, rollout):
    response = viewer_client.get(f"/agents/{rollout.agent.slug}/compare/")
    figure_ids = {"chart-win-rate", "chart-differences", "chart-latency", "chart-outcomes"}
    assert figure_ids <= set(response.context["figures"])


def test_figures_are_valid_plotly_json(viewer_client, rollout):
    response = viewer_client.get(f"/agents/{rollout.agent.slug}/compare/")
    figure = response.context["figures"]["chart-win-rate"]
    assert json.loads(json.dumps(figure))["data"][0]["type"] == "scatter"


def test_htmx_request_gets_only_the_body_partial(viewer_client, rollout):
    response = viewer_client.get(
        f"/agents/{rollout.agent.slug}/compare/?window=24h", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert 'id="compare-body"' in html and "<html" not in html


def test_compare_without_traffic_says_how_to_send_some(viewer_client, db):
    rollout = demo_rollout("quiet-bot")
    response = viewer_client.get(f"/agents/{rollout.agent.slug}/compare/")
    assert "make run" in response.content.decode()


def test_custom_window_uses_the_given_days(viewer_client, rollout):
    today = timezone.now().date()
    response = viewer_client.get(
        f"/agents/{rollout.agent.slug}/compare/?window=custom&since={today}&until={today}"
    )
    assert response.context["until"] - response.context["since"] == timedelta(days=1)


def test_gate_panel_reports_the_rollout_gate_for_the_live_pair(viewer_client, rollout):
    from rollouts.gates import gate_evaluate

    response = viewer_client.get(f"/agents/{rollout.agent.slug}/compare/")
    assert response.context["gate"]["status"] == gate_evaluate(rollout=rollout).status


def test_gate_panel_previews_raw_checks_for_another_pair(viewer_client, rollout):
    response = viewer_client.get(
        f"/agents/{rollout.agent.slug}/compare/?a={rollout.candidate.name}&b={rollout.production.name}"
    )
    assert response.context["gate"]["source"] == "preview"


def test_comparison_api_returns_the_summary(client, rollout):
    token = api_key_for(rollout.agent, scopes=["read"])
    response = client.get(
        f"/api/v1/agents/{rollout.agent.slug}/comparison",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json()["paired_samples"] == len(VERDICTS)


def test_comparison_api_refuses_a_key_of_another_agent(client, rollout):
    other = demo_rollout("other-bot")
    token = api_key_for(other.agent, scopes=["read"])
    response = client.get(
        f"/api/v1/agents/{rollout.agent.slug}/comparison",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403


def test_comparison_api_needs_the_read_scope(client, rollout):
    token = api_key_for(rollout.agent, scopes=["ingest"])
    response = client.get(
        f"/api/v1/agents/{rollout.agent.slug}/comparison",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403


def test_histogram_sums_agree_between_the_database_and_python_paths(rollout, monkeypatch):
    from types import SimpleNamespace

    from evaluations import comparison_rollups
    from evaluations.models import VersionRollup

    cells = VersionRollup.objects.filter(agent=rollout.agent)
    args = {"keys": ("version_id", "slice"), "column": "latency_histogram", "size": 40}
    in_database = comparison_rollups.histogram_totals(cells, **args)
    monkeypatch.setattr(comparison_rollups, "connection", SimpleNamespace(vendor="sqlite"))
    in_python = comparison_rollups.histogram_totals(cells, **args)
    assert {k: list(v) for k, v in in_database.items()} == {
        k: list(v) for k, v in in_python.items()
    }
