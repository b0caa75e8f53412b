"""Cheap text views shared by the rule-based detectors.

Python's ``re`` has no multi-pattern prefilter: a rule that starts with ``\\b`` or an
alternation is tried at every position, and ``re.IGNORECASE`` makes alternations several times
slower again. The detectors therefore lowercase once, look at the set of words first, and only
run the regexes whose vocabulary is present (see ``Rule`` and ``score_rules``).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

_WORD = re.compile(r"\w+")
# For ASCII text, str.translate + split is about three times faster than re.findall(r"\w+")
# and yields the same words: ASCII \w is letters, digits and "_".
_ASCII_PUNCTUATION_TO_SPACE = str.maketrans(dict.fromkeys(string.punctuation.replace("_", ""), " "))


def words_of(lowered: str) -> list[str]:
    """The ``\\w+`` words of an already lowercased text, in order."""
    if lowered.isascii():
        return lowered.translate(_ASCII_PUNCTUATION_TO_SPACE).split()
    return _WORD.findall(lowered)


def word_set(lowered: str) -> set[str]:
    """The distinct ``\\w+`` words of an already lowercased text."""
    return set(words_of(lowered))


@dataclass(frozen=True, slots=True)
class Rule:
    """A weighted pattern that only runs when every word group in ``all_of`` is present.

    ``non_ascii`` holds substrings checked instead of words for scripts written without spaces
    (Japanese) or for invisible characters; they can only occur in non-ASCII text. A rule with
    neither always runs.
    """

    name: str
    weight: float
    pattern: re.Pattern[str]
    all_of: tuple[frozenset[str], ...]
    non_ascii: tuple[str, ...]
    case_sensitive: bool


def rule(
    name: str,
    weight: float,
    pattern: str,
    *,
    all_of: tuple[str, ...] = (),
    non_ascii: tuple[str, ...] = (),
    case_sensitive: bool = False,
) -> Rule:
    """Build a rule; ``pattern`` is matched against lowercased text unless case-sensitive."""
    return Rule(
        name=name,
        weight=weight,
        pattern=re.compile(pattern),
        all_of=tuple(frozenset(group.split()) for group in all_of),
        non_ascii=non_ascii,
        case_sensitive=case_sensitive,
    )


def vocabulary(rules: tuple[Rule, ...]) -> frozenset[str]:
    """Every gate word of ``rules``: intersecting a text's words with it once keeps the
    per-rule checks on a handful of words."""
    return frozenset().union(*(group for item in rules for group in item.all_of))


def _gate_open(item: Rule, words: set[str], lowered: str, ascii_only: bool) -> bool:
    if item.all_of:
        for group in item.all_of:
            if words.isdisjoint(group):
                break
        else:
            return True
    elif not item.non_ascii:
        return True
    return not ascii_only and any(piece in lowered for piece in item.non_ascii)


def score_rules(
    rules: tuple[Rule, ...], *, text: str, lowered: str, words: set[str]
) -> tuple[float, list[str]]:
    """Noisy-OR of the weights of the rules that match: ``1 - prod(1 - weight)``.

    ``words`` may be pre-intersected with ``vocabulary(rules)``; gates only test membership.
    """
    matches: list[str] = []
    miss = 1.0
    ascii_only = lowered.isascii()
    for item in rules:
        if not _gate_open(item, words, lowered, ascii_only):
            continue
        if item.pattern.search(text if item.case_sensitive else lowered):
            matches.append(item.name)
            miss *= 1.0 - item.weight
    return round(1.0 - miss, 4), matches
