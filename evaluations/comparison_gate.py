"""The "safe to promote?" panel of the compare page."""

from __future__ import annotations

from evaluations.models import Flag
from rollouts.models import Agent, Rollout


def gate_panel(*, agent: Agent, summary: dict, rollout: Rollout | None) -> dict:
    """The rollout gate's verdict when the compared pair is the live one, else raw checks.

    `rollout` is the agent's rollout (None without one), as the compare page already read it.
    The raw checks follow SPEC §5 with the rollout's policy (or the defaults) and use the
    always-valid bounds, so they agree with what the gate would say about the same numbers.
    """
    is_live_pair = (
        rollout is not None
        and rollout.production_id == summary["version_a"]["id"]
        and rollout.candidate_id == summary["version_b"]["id"]
    )
    if is_live_pair and rollout is not None:
        try:
            from rollouts.gates import gate_evaluate
        except ImportError:
            return _raw_checks(agent=agent, rollout=rollout, summary=summary)
        else:
            result = gate_evaluate(rollout=rollout)
            return {
                "source": "gate",
                "status": str(result.status),
                "checks": [_check_as_dict(check) for check in result.checks],
                "sample_size": getattr(result, "sample_size", None),
            }
    return _raw_checks(agent=agent, rollout=rollout, summary=summary)


def _check_as_dict(check) -> dict:
    if isinstance(check, dict):
        return {"blocking": True, **check}
    if hasattr(check, "as_dict"):
        return check.as_dict()
    return {
        "blocking": getattr(check, "blocking", True),
        **{
            name: getattr(check, name, None)
            for name in ("name", "status", "value", "threshold", "detail")
        },
    }


def _raw_checks(*, agent: Agent, rollout: Rollout | None, summary: dict) -> dict:
    margin = rollout.margin if rollout else 0.05
    min_samples = rollout.min_samples if rollout else 200
    max_error_rate = rollout.max_error_rate if rollout else 0.05
    max_p95_ratio = rollout.max_p95_latency_ratio if rollout else 1.5
    checks: list[dict] = []

    def add(name: str, ok: bool | None, value, threshold, detail: str) -> None:
        status = "inconclusive" if ok is None else ("pass" if ok else "fail")
        checks.append(
            {
                "name": name,
                "status": status,
                "value": value,
                "threshold": threshold,
                "detail": detail,
                "blocking": True,
            }
        )

    samples = summary["paired_samples"]
    add("min_samples", samples >= min_samples, samples, min_samples, "paired interactions")
    for entry in summary["pairwise"]:
        lower = entry["win_rate_always_valid"]["lower"]
        add(
            f"win_rate:{entry['judge']}",
            None if lower is None else lower >= 0.5 - margin,
            lower,
            0.5 - margin,
            f"always-valid lower bound of the win rate, n={entry['n']}",
        )
    for entry in summary["pointwise"]:
        bounds = entry["difference_always_valid"]
        add(
            f"difference:{entry['judge']}",
            None if bounds["lower"] is None else bounds["lower"] >= -margin,
            bounds["lower"],
            -margin,
            f"always-valid lower bound of mean(candidate − baseline), n={bounds['n']}",
        )
    error_rate = summary["ops"]["b"]["error_rate"]
    add(
        "error_rate",
        None if error_rate["estimate"] is None else error_rate["estimate"] <= max_error_rate,
        error_rate["estimate"],
        max_error_rate,
        f"candidate errors / responses, n={error_rate['n']}",
    )
    p95_a = summary["ops"]["a"]["latency_p95_ms"]
    p95_b = summary["ops"]["b"]["latency_p95_ms"]
    ratio = p95_b / p95_a if p95_a and p95_b is not None else None
    add(
        "p95_latency_ratio",
        None if ratio is None else ratio <= max_p95_ratio,
        ratio,
        max_p95_ratio,
        "candidate p95 / baseline p95",
    )
    critical = Flag.objects.filter(
        agent=agent,
        status=Flag.Status.OPEN,
        severity=Flag.Severity.CRITICAL,
        version_id=summary["version_b"]["id"],
    ).count()
    add("open_critical_flags", critical == 0, critical, 0, "open critical flags on the candidate")
    statuses = {check["status"] for check in checks}
    status = (
        "fail" if "fail" in statuses else ("inconclusive" if "inconclusive" in statuses else "pass")
    )
    return {"source": "preview", "status": status, "checks": checks}
