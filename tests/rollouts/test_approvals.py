import pytest

from rollouts.approvals import (
    rollout_approval_approve,
    rollout_approval_reject,
    rollout_approval_request,
)
from rollouts.models import Rollout, RolloutApproval, RolloutEvent
from rollouts.services import (
    ApprovalRequired,
    RolloutError,
    rollout_promote,
    rollout_rollback,
    rollout_set_percent,
)
from tests.factories import AgentFactory, RolloutFactory, user_with_role
from tests.rollouts.factories import passing_evidence


@pytest.fixture
def rollout(db):
    r = RolloutFactory(agent=AgentFactory(slug="support-bot"))
    r.approval_required_from_percent = 100
    r.candidate_percent, r.state = 25, Rollout.State.RAMPING
    r.save()
    return r


@pytest.fixture
def alice(db):
    return user_with_role("operator", username="alice")


@pytest.fixture
def bob(db):
    return user_with_role("operator", username="bob")


def request_100(rollout, user, **kwargs):
    return rollout_approval_request(
        rollout=rollout,
        user=user,
        expected_revision=rollout.revision,
        reason="ready for everyone",
        action="set_percent",
        percent=100,
        **kwargs,
    )


def approve(rollout, user, approval, **kwargs):
    rollout.refresh_from_db()
    return rollout_approval_approve(
        rollout=rollout,
        user=user,
        expected_revision=rollout.revision,
        reason="numbers look right",
        approval_id=approval.pk,
        **kwargs,
    )


def test_step_at_the_policy_percent_needs_approval(rollout, alice):
    with pytest.raises(ApprovalRequired):
        rollout_set_percent(
            rollout=rollout,
            user=alice,
            expected_revision=rollout.revision,
            reason="go",
            percent=100,
        )


def test_step_below_the_policy_percent_needs_no_approval(rollout, alice):
    rollout_set_percent(
        rollout=rollout, user=alice, expected_revision=rollout.revision, reason="go", percent=50
    )
    assert rollout.candidate_percent == 50


def test_request_is_pending_and_leaves_routing_alone(rollout, alice):
    approval = request_100(rollout, alice)
    rollout.refresh_from_db()
    assert (approval.status, rollout.candidate_percent) == (RolloutApproval.Status.PENDING, 25)


def test_request_is_audited(rollout, alice):
    request_100(rollout, alice)
    assert RolloutEvent.objects.get().action == "approval_requested"


def test_requester_cannot_approve_their_own_request(rollout, alice):
    approval = request_100(rollout, alice)
    with pytest.raises(RolloutError, match="cannot approve your own"):
        approve(rollout, alice, approval)


def test_own_approval_attempt_changes_nothing(rollout, alice):
    approval = request_100(rollout, alice)
    with pytest.raises(RolloutError):
        approve(rollout, alice, approval)
    rollout.refresh_from_db()
    approval.refresh_from_db()
    assert (rollout.candidate_percent, approval.status) == (25, RolloutApproval.Status.PENDING)


def test_another_operator_approves_and_the_step_applies(rollout, alice, bob):
    approval = request_100(rollout, alice)
    approve(rollout, bob, approval)
    rollout.refresh_from_db()
    approval.refresh_from_db()
    assert (rollout.candidate_percent, approval.status, approval.decided_by) == (
        100, RolloutApproval.Status.APPROVED, bob,
    )  # fmt: skip


def test_applied_step_names_requester_and_approver(rollout, alice, bob):
    approval = request_100(rollout, alice)
    approve(rollout, bob, approval)
    event = RolloutEvent.objects.get(action="set_percent")
    assert (event.actor, "alice" in event.reason, "bob" in event.reason) == (bob, True, True)


def test_rejected_request_leaves_routing_alone(rollout, alice, bob):
    approval = request_100(rollout, alice)
    rollout.refresh_from_db()
    rollout_approval_reject(
        rollout=rollout,
        user=bob,
        expected_revision=rollout.revision,
        reason="wait for Monday",
        approval_id=approval.pk,
    )
    approval.refresh_from_db()
    assert (rollout.candidate_percent, approval.status) == (25, RolloutApproval.Status.REJECTED)


def test_only_one_pending_request_at_a_time(rollout, alice):
    request_100(rollout, alice)
    rollout.refresh_from_db()
    with pytest.raises(RolloutError, match="already waiting"):
        request_100(rollout, alice)


def test_another_change_cancels_the_pending_request(rollout, alice, bob):
    approval = request_100(rollout, alice)
    rollout.refresh_from_db()
    rollout_rollback(rollout=rollout, user=bob, expected_revision=rollout.revision, reason="oops")
    approval.refresh_from_db()
    assert approval.status == RolloutApproval.Status.CANCELLED


def test_cancelled_request_can_no_longer_be_approved(rollout, alice, bob):
    approval = request_100(rollout, alice)
    rollout.refresh_from_db()
    rollout_rollback(rollout=rollout, user=bob, expected_revision=rollout.revision, reason="oops")
    with pytest.raises(RolloutError, match="already cancelled"):
        approve(rollout, bob, approval)


def test_promote_below_the_threshold_needs_approval(rollout, alice):
    passing_evidence(rollout)
    with pytest.raises(ApprovalRequired):
        rollout_promote(
            rollout=rollout, user=alice, expected_revision=rollout.revision, reason="ship"
        )


def test_approved_promotion_promotes(rollout, alice, bob):
    passing_evidence(rollout)
    approval = rollout_approval_request(
        rollout=rollout,
        user=alice,
        expected_revision=rollout.revision,
        reason="ship it",
        action="promote",
    )
    approve(rollout, bob, approval)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.production.name) == (Rollout.State.PROMOTED, "v2")


def test_request_for_a_step_that_needs_no_approval_is_refused(rollout, alice):
    with pytest.raises(RolloutError, match="does not need a second operator"):
        rollout_approval_request(
            rollout=rollout,
            user=alice,
            expected_revision=rollout.revision,
            reason="x",
            action="set_percent",
            percent=50,
        )
