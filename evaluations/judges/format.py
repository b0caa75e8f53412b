"""Offline: the answer is valid JSON, or matches a regular expression."""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

from evaluations.judges.base import JudgeKind, Verdict, register


@register
class FormatJudge(JudgeKind):
    """params: ``{"mode": "json"}`` or ``{"mode": "regex", "pattern": "..."}`` (full match)."""

    name = "format"
    default_params = {"mode": "json", "pattern": ""}

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(str(self.params["pattern"]), re.DOTALL)

    def score(self, *, interaction: Any, response: Any, other: Any = None) -> Verdict:
        output = (response.output or "").strip()
        if self.params["mode"] == "regex":
            if self._pattern.fullmatch(output):
                return Verdict(value=1.0, label="matches pattern")
            return Verdict(
                value=0.0,
                label="no match",
                rationale=f"The answer does not match {self._pattern.pattern!r}.",
            )
        try:
            json.loads(output)
        except ValueError as exc:
            return Verdict(value=0.0, label="invalid json", rationale=f"Not valid JSON: {exc}.")
        return Verdict(value=1.0, label="valid json")
