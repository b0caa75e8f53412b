"""The judges every agent starts with: offline ones on, LLM ones on when an endpoint is set."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from evaluations.models import Judge
from rollouts.models import Agent

# (name, kind, params, enabled without an LLM endpoint)
OFFLINE_DEFAULTS: tuple[tuple[str, str, dict, bool], ...] = (
    ("refusal", "refusal", {}, True),
    ("pii-leak", "pii_leak", {}, True),
    ("prompt-injection", "prompt_injection", {}, True),
    ("budget", "budget", {}, True),
    ("reference-match", "reference_match", {"mode": "fuzzy"}, True),
    # Needs to know what the answers should look like, so an operator turns it on.
    ("format", "format", {"mode": "json"}, False),
)
LLM_DEFAULTS: tuple[tuple[str, str, dict], ...] = (
    ("rubric", "llm_rubric", {}),
    ("pairwise", "llm_pairwise", {}),
)


def judges_ensure_defaults(*, agent: Agent) -> list[Judge]:
    """Create the default judges the agent lacks; never touch ones an operator configured."""
    llm_on = bool(settings.JUDGE_LLM_BASE_URL)
    wanted = [
        Judge(agent=agent, name=name, kind=kind, params=params, enabled=enabled)
        for name, kind, params, enabled in OFFLINE_DEFAULTS
    ]
    wanted += [
        Judge(agent=agent, name=name, kind=kind, params=params, enabled=llm_on)
        for name, kind, params in LLM_DEFAULTS
    ]
    with transaction.atomic():
        Judge.objects.bulk_create(wanted, ignore_conflicts=True)
        return list(Judge.objects.filter(agent=agent).order_by("name"))
