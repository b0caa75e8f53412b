"""Client for the judge LLM (any OpenAI-compatible endpoint) and the judge prompts.

Free of Django imports: callers pass endpoint settings in, so this package is usable and
testable on its own.
"""

from evaluations.llm.client import LLMClient, LLMResult, get_client, parse_retry_after
from evaluations.llm.errors import (
    LLMError,
    MalformedOutputError,
    PermanentLLMError,
    TransientLLMError,
)
from evaluations.llm.grading import (
    RUBRIC_CRITERIA,
    EquivalenceVerdict,
    PairwiseVerdict,
    RubricGrade,
    compare_pairwise,
    grade_rubric,
    judge_equivalence,
)
from evaluations.llm.pricing import estimate_cost_usd
from evaluations.llm.prompts import Prompt, available_prompts, load_prompt

__all__ = [
    "RUBRIC_CRITERIA",
    "EquivalenceVerdict",
    "LLMClient",
    "LLMError",
    "LLMResult",
    "MalformedOutputError",
    "PairwiseVerdict",
    "PermanentLLMError",
    "Prompt",
    "RubricGrade",
    "TransientLLMError",
    "available_prompts",
    "compare_pairwise",
    "estimate_cost_usd",
    "get_client",
    "grade_rubric",
    "judge_equivalence",
    "load_prompt",
    "parse_retry_after",
]
