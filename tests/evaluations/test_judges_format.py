"""The format judge: valid JSON, or a full match of a regular expression."""

from evaluations.judges import judge_kind
from tests.evaluations.judges_support import interaction, response


def _score(output: str, **params):
    return judge_kind("format")(params=params).score(
        interaction=interaction(), response=response(output)
    )


def test_valid_json_scores_one():
    assert _score('{"answer": 42}').value == 1.0


def test_invalid_json_scores_zero_with_the_parser_message():
    verdict = _score("answer: 42")
    assert (verdict.value, verdict.label) == (0.0, "invalid json")


def test_regex_mode_needs_a_full_match():
    assert _score("ORDER-12345 shipped", mode="regex", pattern=r"ORDER-\d{5}").value == 0.0


def test_regex_mode_accepts_a_matching_answer():
    assert _score("ORDER-12345", mode="regex", pattern=r"ORDER-\d{5}").value == 1.0


def test_opted_out_interactions_are_not_judged():
    judge = judge_kind("format")()
    assert not judge.applies_to(interaction=interaction(opt_out=True), response=response())
