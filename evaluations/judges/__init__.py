"""Judge kinds: a small registry of plain classes, one module per kind."""

from evaluations.judges.base import (
    JudgeKind,
    LLMJudgeKind,
    Verdict,
    judge_instance,
    judge_kind,
    judge_kinds,
    register,
)

__all__ = [
    "JudgeKind",
    "LLMJudgeKind",
    "Verdict",
    "judge_instance",
    "judge_kind",
    "judge_kinds",
    "register",
]
