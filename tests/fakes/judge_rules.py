"""How the fake judge model grades: deterministic rules driven by markers in the answers.

The fake reads the BEGIN/END data blocks of the judge prompts, recognises the task from the
block names, and answers from the contents, so tests can plant known outcomes:

- rubric (blocks INPUT + ANSWER): ``[[quality:N]]`` in the answer sets every criterion to N,
  ``[[clarity:N]]`` / ``[[helpfulness:N]]`` / ``[[accuracy:N]]`` set one criterion. Without a
  marker every criterion follows the answer's length: empty 1, < 5 words 2, < 20 words 3,
  < 60 words 4, otherwise 5.
- pairwise (INPUT + ANSWER A + ANSWER B): the answer holding ``[[winner]]`` wins; otherwise the
  higher ``[[quality:N]]``; otherwise the longer answer; equal length is a tie. With
  ``position_bias`` the first answer always wins.
- equivalence (INPUT + REFERENCE + ANSWER): ``[[equivalent]]`` / ``[[different]]`` in the answer
  decide; otherwise the texts are equivalent when equal after case and punctuation folding.

The block syntax is read independently of the product code on purpose: a real model also only
sees the text.
"""

from __future__ import annotations

import json
import re
from typing import Any

CRITERIA = ("clarity", "helpfulness", "accuracy")
MALFORMED_KINDS = ("not_json", "missing_fields", "out_of_range", "fenced", "empty")

_BLOCK = re.compile(
    r"^-----BEGIN (?P<title>[A-Z][A-Z ]*?) (?P<nonce>[0-9a-f]+)-----\n"
    r"(?P<body>.*?)\n-----END (?P=title) (?P=nonce)-----$",
    re.DOTALL | re.MULTILINE,
)
_QUALITY = re.compile(r"\[\[quality:([0-9]+)\]\]")
_CRITERION = {name: re.compile(rf"\[\[{name}:([0-9]+)\]\]") for name in CRITERIA}


def data_blocks(messages: list[dict[str, Any]]) -> dict[str, str]:
    text = "\n".join(str(message.get("content") or "") for message in messages)
    return {match["title"]: match["body"] for match in _BLOCK.finditer(text)}


def task_kind(blocks: dict[str, str]) -> str:
    if "ANSWER A" in blocks and "ANSWER B" in blocks:
        return "pairwise"
    if "REFERENCE" in blocks and "ANSWER" in blocks:
        return "equivalence"
    if "ANSWER" in blocks:
        return "rubric"
    return "unknown"


def verdict(*, kind: str, blocks: dict[str, str], position_bias: bool) -> dict[str, Any]:
    if kind == "rubric":
        return _rubric(blocks["ANSWER"])
    if kind == "pairwise":
        return _pairwise(blocks["ANSWER A"], blocks["ANSWER B"], position_bias=position_bias)
    if kind == "equivalence":
        return _equivalence(blocks["REFERENCE"], blocks["ANSWER"])
    return {"result": "ok"}


def malformed_content(*, kind: str, malformed: str, good: dict[str, Any]) -> str:
    if malformed == "not_json":
        return "Overall this looks like a reasonable answer to me."
    if malformed == "empty":
        return ""
    if malformed == "fenced":
        return f"```json\n{json.dumps(good)}\n```"
    if malformed == "missing_fields":
        broken = {"clarity": good.get("clarity")} if kind == "rubric" else {"rationale": "hmm"}
        return json.dumps(broken)
    if malformed == "out_of_range":
        return json.dumps(_out_of_range(kind, good))
    raise ValueError(f"unknown malformed kind {malformed!r}; use one of {MALFORMED_KINDS}")


def _out_of_range(kind: str, good: dict[str, Any]) -> dict[str, Any]:
    if kind == "rubric":
        return {name: {"score": 7, "rationale": "off the scale"} for name in CRITERIA}
    if kind == "pairwise":
        return {"winner": "C", "rationale": "neither A nor B"}
    if kind == "equivalence":
        return {"equivalent": "maybe", "rationale": "unsure"}
    return good


def _rubric(answer: str) -> dict[str, Any]:
    base = _length_score(answer)
    quality = _marker_score(_QUALITY, answer)
    result = {}
    for name in CRITERIA:
        score = _marker_score(_CRITERION[name], answer) or quality or base
        result[name] = {"score": score, "rationale": f"{name.capitalize()} rated {score} of 5."}
    return result


def _length_score(answer: str) -> int:
    words = len(answer.split())
    if words == 0:
        return 1
    for limit, score in ((5, 2), (20, 3), (60, 4)):
        if words < limit:
            return score
    return 5


def _marker_score(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None


def _pairwise(first: str, second: str, *, position_bias: bool) -> dict[str, Any]:
    if position_bias:
        return {"winner": "A", "rationale": "The first answer is better."}
    winner = _preferred(first, second)
    reason = "Neither answer is clearly better." if winner == "tie" else f"{winner} is better."
    return {"winner": winner, "rationale": reason}


def _preferred(first: str, second: str) -> str:
    first_marked, second_marked = "[[winner]]" in first, "[[winner]]" in second
    if first_marked != second_marked:
        return "A" if first_marked else "B"
    first_quality = _marker_score(_QUALITY, first)
    second_quality = _marker_score(_QUALITY, second)
    if first_quality is not None and second_quality is not None and first_quality != second_quality:
        return "A" if first_quality > second_quality else "B"
    first_length, second_length = len(first.strip()), len(second.strip())
    if first_length == second_length:
        return "tie"
    return "A" if first_length > second_length else "B"


def _equivalence(reference: str, answer: str) -> dict[str, Any]:
    if "[[equivalent]]" in answer or "[[different]]" in answer:
        equivalent = "[[equivalent]]" in answer
    else:
        equivalent = _folded(reference) == _folded(answer)
    reason = "Same meaning as the reference." if equivalent else "Differs from the reference."
    return {"equivalent": equivalent, "rationale": reason}


def _folded(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())
