"""Word-level diff of two answers, as segments a template renders (and escapes) itself."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# A word with the whitespace that follows it: re-joining the tokens gives the text back, and
# a changed word does not drag the spacing of its neighbours into the diff.
_TOKEN = re.compile(r"\S+\s*|\s+")
# Past this many tokens per side the quadratic matcher is not worth the wait.
MAX_TOKENS = 4000


@dataclass(frozen=True, slots=True)
class Segment:
    op: str  # "same" | "ins" | "del"
    text: str


def word_diff(*, before: str, after: str) -> list[Segment]:
    """Segments turning `before` into `after`; plain text, never markup."""
    old = _TOKEN.findall(before or "")[:MAX_TOKENS]
    new = _TOKEN.findall(after or "")[:MAX_TOKENS]
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    segments: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            segments.append(Segment("same", "".join(old[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            segments.append(Segment("del", "".join(old[i1:i2])))
        if tag in ("insert", "replace"):
            segments.append(Segment("ins", "".join(new[j1:j2])))
    return segments


def similarity(*, before: str, after: str) -> float:
    """Share of words the two answers have in common (difflib's ratio on word tokens)."""
    old = _TOKEN.findall(before or "")[:MAX_TOKENS]
    new = _TOKEN.findall(after or "")[:MAX_TOKENS]
    if not old and not new:
        return 1.0
    return difflib.SequenceMatcher(a=old, b=new, autojunk=False).ratio()
