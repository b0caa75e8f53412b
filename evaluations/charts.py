"""Plotly figures for the compare page, built server-side from a comparison summary.

Each function returns the figure as a plain dict in plotly's figure JSON format, ready for
`json_script`; static/js/charts.js draws them with the vendored plotly.min.js. The dicts are
exactly what `json.loads(go.Figure(data=..., layout=...).to_json())` gives, without building
the figure object: plotly's validation costs several milliseconds per figure on every page
view, so it runs in the tests instead (tests/evaluations/test_charts.py checks every figure
against plotly's schema and that plotly would serialise it unchanged).
"""

from __future__ import annotations

import math

COLOR_A = "#495057"
COLOR_B = "#7048e8"
COLOR_BAND = "rgba(112, 72, 232, 0.18)"
COLOR_THRESHOLD = "#c92a2a"
COLOR_NEUTRAL = "#adb5bd"
AXIS = {"gridcolor": "#eef0f3", "linecolor": "#d0d5dd", "zerolinecolor": "#d0d5dd"}
# What plotly writes for template="none" (no named template: the default one adds ~7 kB per
# figure; the layout below looks the same).
NO_TEMPLATE = {"data": {"scatter": [{"type": "scatter"}]}}


def _figure(*, data: list[dict], title: str, height: int = 280, **layout) -> dict:
    base = {
        "template": NO_TEMPLATE,
        "title": {"text": title, "x": 0, "font": {"size": 14}},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0, "traceorder": "normal"},
        "hovermode": "x unified",
    }
    for axis in ("xaxis", "yaxis"):
        layout[axis] = {**AXIS, **layout.get(axis, {})}
    return {"data": data, "layout": {**base, **layout}}


def _line(*, x: str | None = None, y: str | None = None, value: float, color: str,
          dash: str) -> dict:  # fmt: skip
    """A full-width horizontal (y=) or full-height vertical (x=) reference line."""
    if y is not None:
        return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value,
                "y1": value, "line": {"color": color, "dash": dash}}  # fmt: skip
    return {"type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": value,
            "x1": value, "line": {"color": color, "dash": dash}}  # fmt: skip


def score_distribution_figure(*, entry: dict, name_a: str, name_b: str) -> dict:
    """Share of scores per 0.1-wide bin for both versions of one pointwise judge."""
    edges = entry["distribution"]["edges"]
    labels = [f"{edges[i]:.1f}–{edges[i + 1]:.1f}" for i in range(len(edges) - 1)]
    data = []
    for side, name, color in (("a", name_a, COLOR_A), ("b", name_b, COLOR_B)):
        counts = entry["distribution"][side]
        total = sum(counts)
        data.append(
            {
                "type": "bar",
                "x": labels,
                "y": [c / total * 100 if total else 0 for c in counts],
                "name": f"{name} (n={total:,})",
                "marker": {"color": color},
                "customdata": counts,
                "hovertemplate": "%{y:.1f}% (%{customdata} scores)<extra>" + name + "</extra>",
            }
        )
    return _figure(
        data=data,
        title=f"{entry['judge']}: score distribution",
        barmode="group",
        yaxis={"title": {"text": "% of scores"}},
        xaxis={"title": {"text": "score"}},
        height=320,
        margin={"l": 56, "r": 16, "t": 40, "b": 96},
    )


def difference_figure(*, pointwise: list[dict], margin: float, confidence: float) -> dict:
    """Paired difference (B − A) per pointwise judge with its interval, against −margin."""
    rows = [e for e in pointwise if e["difference"]["estimate"] is not None]
    estimates = [e["difference"]["estimate"] for e in rows]
    lowers = [e["difference"]["lower"] for e in rows]
    uppers = [e["difference"]["upper"] for e in rows]
    data = [
        {
            "type": "scatter",
            "x": estimates,
            "y": [e["judge"] for e in rows],
            "mode": "markers+text",
            "text": [f"n={e['difference']['n']:,}" for e in rows],
            "textposition": "top center",
            "marker": {"color": COLOR_B, "size": 10},
            "error_x": {
                "type": "data",
                "array": [
                    (u if u is not None else m) - m for m, u in zip(estimates, uppers, strict=True)
                ],
                "arrayminus": [
                    m - (lo if lo is not None else m)
                    for m, lo in zip(estimates, lowers, strict=True)
                ],
                "color": COLOR_B,
            },  # fmt: skip
            "name": f"mean difference, {confidence:.0%} CI",
            "hovertemplate": "%{x:+.3f}<extra></extra>",
        }
    ]
    return _figure(
        data=data,
        title="Paired difference per judge (candidate − baseline)",
        height=max(240, 150 + 56 * len(rows)),
        xaxis={"title": {"text": "mean score difference"}},
        hovermode="closest",
        showlegend=True,
        margin={"l": 96, "r": 16, "t": 40, "b": 96},
        shapes=[
            _line(x="x", value=0, color=COLOR_NEUTRAL, dash="dot"),
            _line(x="x", value=-margin, color=COLOR_THRESHOLD, dash="dash"),
        ],
        annotations=[
            {
                "x": -margin,
                "xref": "x",
                "y": 0,
                "yref": "paper",
                "yanchor": "bottom",
                "xanchor": "left",
                "showarrow": False,
                "text": f" −margin ({-margin:+.2f})",
                "font": {"color": COLOR_THRESHOLD, "size": 11},
            },
        ],  # fmt: skip
    )


def win_rate_timeline_figure(
    *, timeline: list[dict], margin: float, confidence: float, window: tuple[str, str]
) -> dict:
    """Cumulative win rate of the candidate with its interval band, per pairwise judge."""
    data: list[dict] = []
    values: list[float] = []
    for series in timeline:
        points = [p for p in series["points"] if p["lower"] is not None]
        times = [p["t"] for p in points]
        values += [p["lower"] for p in points] + [p["upper"] for p in points]
        data += [
            {"type": "scatter", "x": times, "y": [p["upper"] for p in points], "mode": "lines",
             "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"},
            {"type": "scatter", "x": times, "y": [p["lower"] for p in points], "mode": "lines",
             "line": {"width": 0}, "fill": "tonexty", "fillcolor": COLOR_BAND,
             "name": f"{confidence:.0%} CI", "hoverinfo": "skip"},
            {"type": "scatter", "x": times, "y": [p["estimate"] for p in points],
             "mode": "lines+markers", "line": {"color": COLOR_B, "width": 2},
             "marker": {"size": 6}, "customdata": [p["n"] for p in points],
             "name": f"{series['judge']}: win rate",
             "hovertemplate": "%{y:.1%} (n=%{customdata:,})<extra></extra>"},
        ]  # fmt: skip
    # Zoom on the data and the thresholds: a fixed 0–100% axis hides a narrow band.
    low = max(0.0, min([*values, 0.5 - margin]) - 0.05)
    high = min(1.0, max([*values, 0.5]) + 0.05)
    return _figure(
        data=data,
        title="Cumulative pairwise win rate of the candidate (ties count half)",
        yaxis={"range": [low, high], "tickformat": ".0%"},
        # The whole window, so a young comparison reads as "only the last hours so far".
        xaxis={"type": "date", "range": list(window)},
        height=320,
        margin={"l": 56, "r": 16, "t": 40, "b": 80},
        shapes=[
            _line(y="y", value=0.5, color=COLOR_NEUTRAL, dash="dot"),
            _line(y="y", value=0.5 - margin, color=COLOR_THRESHOLD, dash="dash"),
        ],
        annotations=[
            {
                "x": 1,
                "xref": "paper",
                "y": 0.5 - margin,
                "yref": "y",
                "xanchor": "right",
                "yanchor": "top",
                "showarrow": False,
                "text": f"0.5 − margin = {0.5 - margin:.2f}",
                "font": {"color": COLOR_THRESHOLD, "size": 11},
            },
        ],  # fmt: skip
    )


def outcome_figure(*, pairwise: list[dict]) -> dict:
    """Win / tie / loss shares per pairwise judge as stacked horizontal bars."""
    names = [entry["judge"] for entry in pairwise]
    data = [
        {
            "type": "bar",
            "y": names,
            "x": [(e["shares"][outcome]["estimate"] or 0) * 100 for e in pairwise],
            "customdata": [e[count_key] for e in pairwise],
            "orientation": "h",
            "name": label,
            "marker": {"color": color},
            "hovertemplate": "%{x:.1f}% (%{customdata:,})<extra>" + label + "</extra>",
        }
        for outcome, count_key, label, color in (
            ("win", "wins", "candidate wins", COLOR_B),
            ("tie", "ties", "tie", COLOR_NEUTRAL),
            ("loss", "losses", "candidate loses", COLOR_A),
        )
    ]
    return _figure(
        data=data,
        title="Pairwise outcomes",
        barmode="stack",
        height=max(200, 140 + 40 * len(names)),
        xaxis={"range": [0, 100], "ticksuffix": "%"},
        hovermode="closest",
        margin={"l": 96, "r": 16, "t": 40, "b": 60},
    )


def latency_figure(*, ops: dict, name_a: str, name_b: str) -> dict:
    """Latency distribution of both versions on a log axis (from the rollup histograms)."""
    edges = ops["a"]["latency_edges_ms"]
    # Geometric bucket midpoints keep the steps centred on a log axis.
    mids = [math.sqrt(max(edges[i], 1) * edges[i + 1]) for i in range(len(edges) - 1)]
    data = []
    for side, name, color in (("a", name_a, COLOR_A), ("b", name_b, COLOR_B)):
        counts = ops[side]["latency_histogram"]
        total = sum(counts)
        data.append(
            {
                "type": "scatter",
                "x": mids,
                "y": [c / total * 100 if total else 0 for c in counts],
                "mode": "lines",
                "line": {"shape": "hvh", "color": color, "width": 2},
                "name": f"{name} (n={total:,})",
                "hovertemplate": "%{x:.0f} ms: %{y:.1f}%<extra>" + name + "</extra>",
            }
        )
    return _figure(
        data=data,
        title="Latency distribution",
        xaxis={
            "type": "log",
            "title": {"text": "latency (log scale)"},
            "tickvals": [10, 100, 1000, 10_000, 100_000],
            "ticktext": ["10 ms", "100 ms", "1 s", "10 s", "100 s"],
        },
        yaxis={"title": {"text": "% of responses"}},
        height=320,
        margin={"l": 56, "r": 16, "t": 40, "b": 96},
    )


def comparison_figures(*, summary: dict, margin: float) -> dict[str, dict]:
    """Every chart of the compare page, keyed by the id its json_script block gets."""
    name_a = summary["version_a"]["name"]
    name_b = summary["version_b"]["name"]
    confidence = summary["confidence"]
    figures: dict[str, dict] = {}
    if any(s["points"] for s in summary["timeline"]):
        figures["chart-win-rate"] = win_rate_timeline_figure(
            timeline=summary["timeline"],
            margin=margin,
            confidence=confidence,
            window=(summary["since"], summary["until"]),
        )
    if summary["pairwise"]:
        figures["chart-outcomes"] = outcome_figure(pairwise=summary["pairwise"])
    if any(e["difference"]["estimate"] is not None for e in summary["pointwise"]):
        figures["chart-differences"] = difference_figure(
            pointwise=summary["pointwise"], margin=margin, confidence=confidence
        )
    for entry in summary["pointwise"]:
        if sum(entry["distribution"]["a"]) + sum(entry["distribution"]["b"]):
            figures[f"chart-dist-{entry['judge_id']}"] = score_distribution_figure(
                entry=entry, name_a=name_a, name_b=name_b
            )
    if summary["ops"]["a"]["latency_n"] + summary["ops"]["b"]["latency_n"]:
        figures["chart-latency"] = latency_figure(ops=summary["ops"], name_a=name_a, name_b=name_b)
    return figures
