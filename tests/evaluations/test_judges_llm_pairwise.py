"""The pairwise judge: asked in both orders, a winner only when both orders agree."""

from evaluations.judges import judge_kind
from tests.evaluations import judges_support
from tests.evaluations.judges_support import interaction, llm_params, response


def _compare(server, *, candidate: str, production: str):
    judge = judge_kind("llm_pairwise")(params=llm_params(server))
    return judge.score(
        interaction=interaction(), response=response(candidate), other=response(production)
    )


# Fixtures shared by the judges tests.
fake_server, fake = judges_support.fake_server, judges_support.fake


def test_better_candidate_wins(fake):
    verdict = _compare(fake, candidate="[[quality:5]] detailed", production="[[quality:2]] meh")
    assert (verdict.verdict, verdict.value, verdict.label) == ("win", 1.0, "candidate wins")


def test_worse_candidate_loses(fake):
    verdict = _compare(fake, candidate="[[quality:1]] no", production="[[quality:4]] yes")
    assert (verdict.verdict, verdict.value) == ("loss", 0.0)


def test_both_orders_are_asked(fake):
    _compare(fake, candidate="[[quality:5]] a", production="[[quality:2]] b")
    assert fake.stats()["by_kind"] == {"pairwise": 2}


def test_position_bias_turns_into_an_inconsistent_tie(fake):
    fake.configure(position_bias=True)
    verdict = _compare(fake, candidate="[[quality:5]] a", production="[[quality:2]] b")
    assert (verdict.verdict, verdict.details["position_inconsistent"]) == ("tie", True)


def test_cost_covers_both_calls(fake):
    verdict = _compare(fake, candidate="[[quality:5]] a", production="[[quality:2]] b")
    stats = fake.stats()
    assert verdict.tokens_in + verdict.tokens_out == stats["tokens_in"] + stats["tokens_out"]
