import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluations.services import flag_review
from shadow.models import Feedback
from shadow.textdiff import word_diff
from tests.evaluations.dashboard_support import demo_rollout, open_flag, scored_pair
from tests.factories import user_with_role

HOSTILE = (
    '<script>alert(1)</script> <img src=x onerror=alert(1)> <a href="javascript:alert(1)">click</a>'
)


@pytest.fixture
def viewer_client(client, db):
    client.force_login(user_with_role("viewer"))
    return client


@pytest.fixture
def rollout(db):
    return demo_rollout()


def detail_html(client, interaction) -> str:
    return client.get(f"/interactions/{interaction.pk}/").content.decode()


def test_both_answers_are_shown_side_by_side(viewer_client, rollout):
    interaction = scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.6,
        verdict="win",
        production_output="Reset it from settings.",
        candidate_output="Open settings and choose reset.",
    )
    html = detail_html(viewer_client, interaction)
    assert "Reset it from settings." in html and "Open settings and choose reset." in html


def test_word_diff_marks_inserted_and_deleted_words(viewer_client, rollout):
    interaction = scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.6,
        verdict="win",
        production_output="Refunds take five days.",
        candidate_output="Refunds take three days.",
    )
    html = detail_html(viewer_client, interaction)
    assert "<del>five </del>" in html and "<ins>three </ins>" in html


def test_agent_output_markup_is_shown_as_text(viewer_client, rollout):
    interaction = scored_pair(
        rollout, production_value=0.5, candidate_value=0.5, verdict="tie", candidate_output=HOSTILE
    )
    html = detail_html(viewer_client, interaction)
    assert "<script>alert(1)" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_markup_inside_the_diff_is_escaped(viewer_client, rollout):
    interaction = scored_pair(
        rollout, production_value=0.5, candidate_value=0.5, verdict="tie", candidate_output=HOSTILE
    )
    html = detail_html(viewer_client, interaction)
    assert '<a href="javascript:' not in html


def test_every_score_is_listed_with_its_rationale(viewer_client, rollout):
    interaction = scored_pair(
        rollout,
        production_value=0.5,
        candidate_value=0.6,
        verdict="win",
        rationale="Mentions the reset link explicitly.",
    )
    html = detail_html(viewer_client, interaction)
    assert html.count("Mentions the reset link explicitly.") == 2 and "Candidate wins." in html


def test_flags_show_their_review_history(viewer_client, rollout):
    interaction = scored_pair(rollout, production_value=0.5, candidate_value=0.1, verdict="loss")
    flag = open_flag(interaction, rule="pii_leak")
    flag_review(flag=flag, user=user_with_role("reviewer"), decision="confirmed", note="real leak")
    html = detail_html(viewer_client, interaction)
    assert "pii_leak" in html and "real leak" in html


def test_user_feedback_is_shown(viewer_client, rollout):
    interaction = scored_pair(rollout, production_value=0.5, candidate_value=0.5, verdict="tie")
    Feedback.objects.create(interaction=interaction, score=-1, comment="did not help")
    html = detail_html(viewer_client, interaction)
    assert "thumbs down" in html and "did not help" in html


def test_unknown_interaction_is_not_found(viewer_client, db):
    assert viewer_client.get("/interactions/999999/").status_code == 404


words = st.lists(st.sampled_from(["a", "b", "c", "refund", "<b>", "\n", " "]), max_size=30)


@given(before=words, after=words)
def test_word_diff_rebuilds_both_texts(before, after):
    old, new = " ".join(before), " ".join(after)
    segments = word_diff(before=old, after=new)
    rebuilt_old = "".join(s.text for s in segments if s.op != "ins")
    rebuilt_new = "".join(s.text for s in segments if s.op != "del")
    assert (rebuilt_old, rebuilt_new) == (old, new)
