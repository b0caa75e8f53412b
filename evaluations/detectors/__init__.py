"""Offline guardrail detectors: pure functions over text, no Django, no network.

Used by judges (Celery), ingest post-processing (slices) and dataset runs.
"""

from .injection import (
    DEFAULT_LEAK_MARKERS,
    INJECTION_THRESHOLD,
    InjectionResult,
    detect_injection,
    detect_system_prompt_leak,
)
from .language import detect_language, is_unexpected_language
from .pii import PiiMatch, find_pii, pii_leaked
from .refusal import REFUSAL_THRESHOLD, RefusalResult, detect_refusal
from .sentiment import NEGATIVE_COMPOUND, EmotionResult, detect_emotion
from .slices import (
    ALL_SLICES,
    SLICE_ADVERSARIAL,
    SLICE_EMOTIONAL,
    SLICE_EMPTY,
    SLICE_LANGUAGE,
    SLICE_LONG,
    compute_slices,
)
from .tokens import count_tokens

__all__ = [
    "ALL_SLICES",
    "DEFAULT_LEAK_MARKERS",
    "INJECTION_THRESHOLD",
    "NEGATIVE_COMPOUND",
    "REFUSAL_THRESHOLD",
    "SLICE_ADVERSARIAL",
    "SLICE_EMOTIONAL",
    "SLICE_EMPTY",
    "SLICE_LANGUAGE",
    "SLICE_LONG",
    "EmotionResult",
    "InjectionResult",
    "PiiMatch",
    "RefusalResult",
    "compute_slices",
    "count_tokens",
    "detect_emotion",
    "detect_injection",
    "detect_language",
    "detect_refusal",
    "detect_system_prompt_leak",
    "find_pii",
    "is_unexpected_language",
    "pii_leaked",
]
