"""Slices: coarse labels on an interaction's input, used to break comparisons down.

Computed once per interaction at ingest. Cost is bounded: beyond ``_SAMPLE_CHARS`` only the head
and tail of the input are examined, which is where instructions, greetings and complaints sit
in pasted logs or documents.
"""

from __future__ import annotations

from .injection import detect_injection
from .language import is_unexpected_language
from .sentiment import detect_emotion

SLICE_ADVERSARIAL = "adversarial"
SLICE_EMOTIONAL = "emotional"
SLICE_EMPTY = "edge:empty"
SLICE_LONG = "edge:long"
SLICE_LANGUAGE = "edge:language"
ALL_SLICES: tuple[str, ...] = (
    SLICE_ADVERSARIAL,
    SLICE_EMOTIONAL,
    SLICE_EMPTY,
    SLICE_LONG,
    SLICE_LANGUAGE,
)

DEFAULT_LONG_THRESHOLD = 8000
_SAMPLE_CHARS = 4000


def _bounded(text: str) -> str:
    if len(text) <= _SAMPLE_CHARS:
        return text
    half = _SAMPLE_CHARS // 2
    return f"{text[:half]}\n{text[-half:]}"


def compute_slices(
    *,
    input: str,
    expected_language: str = "en",
    long_threshold: int = DEFAULT_LONG_THRESHOLD,
) -> list[str]:
    """The slices ``input`` belongs to, in ``ALL_SLICES`` order."""
    if not input.strip():
        return [SLICE_EMPTY]
    sample = _bounded(input)
    found = set()
    if detect_injection(sample).is_injection:
        found.add(SLICE_ADVERSARIAL)
    if detect_emotion(sample).is_emotional:
        found.add(SLICE_EMOTIONAL)
    if len(input) > long_threshold:
        found.add(SLICE_LONG)
    if is_unexpected_language(sample, expected=expected_language):
        found.add(SLICE_LANGUAGE)
    return [name for name in ALL_SLICES if name in found]
