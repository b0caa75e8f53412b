"""The compare page's figures are plain dicts; plotly's own schema checks them here."""

import json

import plotly.graph_objects as go
import pytest

from evaluations.charts import comparison_figures
from evaluations.comparison import comparison_summary, comparison_window
from tests.evaluations.dashboard_support import demo_rollout, scored_pair

PAIRS = ((0.6, 0.7, "win"), (0.7, 0.7, "tie"), (0.8, 0.5, "loss"), (0.4, 0.9, "win"))


@pytest.fixture
def figures(db):
    rollout = demo_rollout()
    for production, candidate, verdict in PAIRS:
        scored_pair(
            rollout, production_value=production, candidate_value=candidate, verdict=verdict
        )
    since, until = comparison_window()
    summary = comparison_summary(
        agent=rollout.agent,
        version_a=rollout.production,
        version_b=rollout.candidate,
        since=since,
        until=until,
    )
    return comparison_figures(summary=summary, margin=rollout.margin)


def test_every_chart_of_the_compare_page_is_built(figures):
    assert {"chart-win-rate", "chart-outcomes", "chart-differences", "chart-latency"} <= set(
        figures
    )


def test_figures_pass_plotly_validation(figures):
    for figure in figures.values():
        go.Figure(figure)  # raises ValueError on any property plotly does not know


def test_figures_are_what_plotly_itself_would_serialise(figures):
    as_plotly = {key: json.loads(go.Figure(f).to_json()) for key, f in figures.items()}
    assert as_plotly == {key: json.loads(json.dumps(f)) for key, f in figures.items()}
