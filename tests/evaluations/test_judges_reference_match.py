"""The reference judge: exact, normalised, fuzzy (rapidfuzz) and LLM equivalence."""

import pytest

from evaluations.judges import judge_kind
from tests.evaluations import judges_support
from tests.evaluations.judges_support import interaction, llm_params, response

REFERENCE = "Use the 'Forgot password' link on the sign-in page."


def _score(output: str, **params):
    judge = judge_kind("reference_match")(params=params)
    return judge.score(
        interaction=interaction(metadata={"expected_output": REFERENCE}), response=response(output)
    )


# Fixtures shared by the judges tests.
fake_server, fake = judges_support.fake_server, judges_support.fake


def test_exact_mode_needs_identical_text():
    assert _score(REFERENCE.lower(), mode="exact").value == 0.0


def test_normalised_mode_ignores_case_and_punctuation():
    assert (
        _score("use the forgot password link on the sign in page", mode="normalised").value == 1.0
    )


def test_fuzzy_mode_value_is_the_similarity():
    verdict = _score("Use the Forgot password link on the sign-in screen.", mode="fuzzy")
    assert 0.8 < verdict.value < 1.0


def test_fuzzy_mode_below_threshold_is_labelled_differs():
    assert _score("Call our hotline.", mode="fuzzy").label == "fuzzy: differs"


def test_no_reference_means_no_score_row():
    judge = judge_kind("reference_match")()
    assert not judge.applies_to(interaction=interaction(), response=response())


def test_dataset_items_pass_the_reference_as_an_attribute():
    judge = judge_kind("reference_match")(params={"mode": "exact"})
    verdict = judge.score(interaction=interaction(expected=REFERENCE), response=response(REFERENCE))
    assert verdict.value == 1.0


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        judge_kind("reference_match")(params={"mode": "telepathy"})


def test_llm_mode_asks_the_model_and_records_cost(fake):
    judge = judge_kind("reference_match")(params=llm_params(fake, mode="llm"))
    verdict = judge.score(
        interaction=interaction(metadata={"expected_output": REFERENCE}),
        response=response("Same thing in other words [[equivalent]]"),
    )
    assert (verdict.value, verdict.cost_usd > 0) == (1.0, True)
