"""The rubric judge: clarity, helpfulness and accuracy 1–5 from the model, stored 0..1."""

import pytest

from evaluations.judges import judge_kind
from evaluations.llm import MalformedOutputError
from tests.evaluations import judges_support
from tests.evaluations.judges_support import interaction, llm_params, response

# Fixtures shared by the judges tests.
fake_server, fake = judges_support.fake_server, judges_support.fake


def _score(server, output: str):
    judge = judge_kind("llm_rubric")(params=llm_params(server))
    return judge.score(interaction=interaction(), response=response(output))


def test_value_is_the_mean_of_normalised_criteria(fake):
    verdict = _score(fake, "[[clarity:5]] [[helpfulness:3]] [[accuracy:1]]")
    assert verdict.value == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_label_shows_the_mean_and_the_weakest_criterion(fake):
    verdict = _score(fake, "[[clarity:5]] [[helpfulness:3]] [[accuracy:1]]")
    assert verdict.label == "3.0/5 (accuracy 1/5)"


def test_details_keep_each_criterion_with_its_rationale(fake):
    verdict = _score(fake, "[[quality:4]]")
    assert verdict.details["criteria"]["helpfulness"] == {
        "score": 4,
        "value": 0.75,
        "rationale": "Helpfulness rated 4 of 5.",
    }


def test_tokens_and_cost_of_the_call_are_recorded(fake):
    verdict = _score(fake, "[[quality:4]]")
    stats = fake.stats()
    assert (verdict.tokens_in, verdict.tokens_out) == (stats["tokens_in"], stats["tokens_out"])


def test_prompt_version_is_recorded(fake):
    assert _score(fake, "[[quality:4]]").details["prompt_version"] == "rubric_v1"


def test_first_malformed_reply_is_retried_with_the_simple_prompt(fake):
    fake.configure(script=[{"malformed": "not_json"}])
    assert _score(fake, "[[quality:2]]").details["prompt_version"] == "rubric_simple_v1"


def test_two_malformed_replies_raise_with_the_raw_answer(fake):
    fake.configure(malformed="not_json")
    with pytest.raises(MalformedOutputError) as caught:
        _score(fake, "[[quality:2]]")
    assert "reasonable answer" in caught.value.raw
