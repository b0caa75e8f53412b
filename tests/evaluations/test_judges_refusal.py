"""The refusal judge: answers that refuse or deflect score 0."""

from evaluations.judges import judge_kind
from tests.evaluations.judges_support import interaction, response


def _score(output: str):
    return judge_kind("refusal")().score(interaction=interaction(), response=response(output))


def test_refusal_scores_zero_with_label():
    verdict = _score("I'm sorry, but I can't help with that request.")
    assert (verdict.value, verdict.label) == (0.0, "refusal")


def test_helpful_answer_scores_one():
    assert _score("Open Settings, choose Security and click 'Reset password'.").value == 1.0


def test_refusal_rationale_names_the_phrases_found():
    verdict = _score("I'm sorry, but I can't help with that request.")
    assert verdict.details["matches"] and verdict.rationale
