"""Judge calls with validated verdicts: rubric grades, pairwise preferences, equivalence.

A reply that is not the requested JSON is retried once with the simpler prompt variant; a
second bad reply raises MalformedOutputError carrying the raw text and the tokens spent.
Transient and permanent errors propagate unchanged for the Celery layer to handle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from evaluations.llm.client import LLMClient, LLMResult
from evaluations.llm.errors import MalformedOutputError
from evaluations.llm.prompts import load_prompt

RUBRIC_CRITERIA = ("clarity", "helpfulness", "accuracy")
RUBRIC_MIN, RUBRIC_MAX = 1, 5
RATIONALE_MAX_CHARS = 500

PairwiseWinner = Literal["a", "b", "tie"]
T = TypeVar("T")


@dataclass(frozen=True)
class RubricGrade:
    scores: dict[str, float]  # criterion -> (score - 1) / 4, in [0, 1]
    raw_scores: dict[str, int]  # criterion -> 1..5 as the model gave it
    rationales: dict[str, str]
    tokens_in: int  # summed over every attempt, including a rejected first reply
    tokens_out: int
    prompt_version: str  # the prompt that produced the accepted reply
    raw: str
    model: str
    attempts: int

    @property
    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores)


@dataclass(frozen=True)
class PairwiseVerdict:
    winner: PairwiseWinner  # "a"/"b" only when both presentation orders agree
    position_inconsistent: bool  # the two orders disagreed
    order_winners: tuple[PairwiseWinner, PairwiseWinner]  # (A-first, B-first), mapped to a/b
    rationales: tuple[str, str]
    tokens_in: int
    tokens_out: int
    prompt_version: str
    raws: tuple[str, str]
    model: str


@dataclass(frozen=True)
class EquivalenceVerdict:
    equivalent: bool
    rationale: str
    tokens_in: int
    tokens_out: int
    prompt_version: str
    raw: str
    model: str


@dataclass(frozen=True)
class _Answer(Generic[T]):
    value: T
    result: LLMResult
    prompt_version: str
    tokens_in: int
    tokens_out: int
    attempts: int


def grade_rubric(
    *,
    client: LLMClient,
    input: str,
    output: str,
    prompt: str = "rubric_v1",
    fallback_prompt: str = "rubric_simple_v1",
    max_tokens: int = 400,
) -> RubricGrade:
    answer = _ask_validated(
        client=client,
        prompt_names=(prompt, fallback_prompt),
        blocks={"input": input, "answer": output},
        max_tokens=max_tokens,
        parse=_parse_rubric,
    )
    raw_scores, rationales = answer.value
    return RubricGrade(
        scores={
            name: (score - RUBRIC_MIN) / (RUBRIC_MAX - RUBRIC_MIN)
            for name, score in raw_scores.items()
        },
        raw_scores=raw_scores,
        rationales=rationales,
        tokens_in=answer.tokens_in,
        tokens_out=answer.tokens_out,
        prompt_version=answer.prompt_version,
        raw=answer.result.raw,
        model=answer.result.model,
        attempts=answer.attempts,
    )


def compare_pairwise(
    *,
    client: LLMClient,
    input: str,
    answer_a: str,
    answer_b: str,
    prompt: str = "pairwise_v1",
    fallback_prompt: str = "pairwise_simple_v1",
    max_tokens: int = 300,
) -> PairwiseVerdict:
    """Ask in both presentation orders; a winner needs both orders to agree.

    Judges favour whichever answer comes first often enough that a single order would turn
    position bias into fake wins for one version.
    """
    asked = []
    for first, second in ((answer_a, answer_b), (answer_b, answer_a)):
        asked.append(
            _ask_validated(
                client=client,
                prompt_names=(prompt, fallback_prompt),
                blocks={"input": input, "answer_a": first, "answer_b": second},
                max_tokens=max_tokens,
                parse=_parse_pairwise,
            )
        )
    forward, backward = asked
    forward_winner = _slot_to_answer(forward.value[0], swapped=False)
    backward_winner = _slot_to_answer(backward.value[0], swapped=True)
    consistent = forward_winner == backward_winner
    return PairwiseVerdict(
        winner=forward_winner if consistent else "tie",
        position_inconsistent=not consistent,
        order_winners=(forward_winner, backward_winner),
        rationales=(forward.value[1], backward.value[1]),
        tokens_in=forward.tokens_in + backward.tokens_in,
        tokens_out=forward.tokens_out + backward.tokens_out,
        prompt_version=_combined_version(forward.prompt_version, backward.prompt_version),
        raws=(forward.result.raw, backward.result.raw),
        model=forward.result.model,
    )


def judge_equivalence(
    *,
    client: LLMClient,
    input: str,
    expected: str,
    output: str,
    prompt: str = "equivalence_v1",
    fallback_prompt: str = "equivalence_simple_v1",
    max_tokens: int = 200,
) -> EquivalenceVerdict:
    answer = _ask_validated(
        client=client,
        prompt_names=(prompt, fallback_prompt),
        blocks={"input": input, "reference": expected, "answer": output},
        max_tokens=max_tokens,
        parse=_parse_equivalence,
    )
    equivalent, rationale = answer.value
    return EquivalenceVerdict(
        equivalent=equivalent,
        rationale=rationale,
        tokens_in=answer.tokens_in,
        tokens_out=answer.tokens_out,
        prompt_version=answer.prompt_version,
        raw=answer.result.raw,
        model=answer.result.model,
    )


def _ask_validated(
    *,
    client: LLMClient,
    prompt_names: tuple[str, ...],
    blocks: dict[str, str],
    max_tokens: int,
    parse: Callable[[dict[str, Any]], T],
) -> _Answer[T]:
    tokens_in = tokens_out = 0
    last_raw, last_reason = "", ""
    for attempt, name in enumerate(prompt_names, start=1):
        prompt = load_prompt(name)
        try:
            result = client.chat_json(messages=prompt.render(blocks=blocks), max_tokens=max_tokens)
        except MalformedOutputError as exc:
            tokens_in, tokens_out = tokens_in + exc.tokens_in, tokens_out + exc.tokens_out
            last_raw, last_reason = exc.raw, exc.reason
            continue
        tokens_in, tokens_out = tokens_in + result.tokens_in, tokens_out + result.tokens_out
        try:
            value = parse(result.data)
        except ValueError as exc:
            last_raw, last_reason = result.raw, str(exc)
            continue
        return _Answer(value, result, prompt.version, tokens_in, tokens_out, attempts=attempt)
    raise MalformedOutputError(
        last_raw, reason=last_reason, tokens_in=tokens_in, tokens_out=tokens_out
    )


def _parse_rubric(data: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    scores: dict[str, int] = {}
    rationales: dict[str, str] = {}
    for criterion in RUBRIC_CRITERIA:
        if criterion not in data:
            raise ValueError(f"missing criterion {criterion!r}")
        entry = data[criterion]
        # Some models flatten the shape to {"clarity": 4}; the score is still unambiguous.
        if isinstance(entry, dict):
            score, rationale = entry.get("score"), entry.get("rationale")
        else:
            score, rationale = entry, ""
        scores[criterion] = _rubric_score(criterion, score)
        rationales[criterion] = _rationale(rationale)
    return scores, rationales


def _rubric_score(criterion: str, value: Any) -> int:
    # bool is an int subclass, and true/false is never a meaningful score.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{criterion} score {value!r} is not a number")
    if value != int(value) or not RUBRIC_MIN <= value <= RUBRIC_MAX:
        raise ValueError(f"{criterion} score {value!r} is not an integer in 1..5")
    return int(value)


def _parse_pairwise(data: dict[str, Any]) -> tuple[str, str]:
    winner = data.get("winner")
    normalised = winner.strip().upper() if isinstance(winner, str) else None
    if normalised not in {"A", "B", "TIE"}:
        raise ValueError(f"winner {winner!r} is not 'A', 'B' or 'tie'")
    return normalised, _rationale(data.get("rationale"))


def _parse_equivalence(data: dict[str, Any]) -> tuple[bool, str]:
    equivalent = data.get("equivalent")
    if not isinstance(equivalent, bool):
        raise ValueError(f"equivalent {equivalent!r} is not a boolean")
    return equivalent, _rationale(data.get("rationale"))


def _rationale(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text.strip()[:RATIONALE_MAX_CHARS]


def _slot_to_answer(slot: str, *, swapped: bool) -> PairwiseWinner:
    if slot == "TIE":
        return "tie"
    if (slot == "A") != swapped:
        return "a"
    return "b"


def _combined_version(first: str, second: str) -> str:
    return first if first == second else f"{first}+{second}"
