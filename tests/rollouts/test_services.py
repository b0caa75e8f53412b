import pytest

from rollouts.events import event_publish  # noqa: F401 - the bus exists in this build
from rollouts.models import Event, Rollout, RolloutEvent
from rollouts.services import (
    GateNotPassed,
    RolloutConflict,
    RolloutError,
    rollout_advance,
    rollout_pause,
    rollout_promote,
    rollout_resume,
    rollout_rollback,
    rollout_set_percent,
    rollout_set_shadow_percent,
    rollout_start_shadow,
)
from tests.factories import AgentFactory, RolloutFactory, VersionFactory, user_with_role
from tests.rollouts.factories import pairwise_evidence, passing_evidence


@pytest.fixture
def rollout(db):
    return RolloutFactory(agent=AgentFactory(slug="support-bot"))


@pytest.fixture
def operator(db):
    return user_with_role("operator", username="olivia")


def change(service, rollout, operator, **kwargs):
    kwargs.setdefault("reason", "because")
    return service(rollout=rollout, user=operator, expected_revision=rollout.revision, **kwargs)


def snapshot(rollout: Rollout) -> tuple:
    rollout.refresh_from_db()
    return (
        rollout.production_id, rollout.candidate_id, rollout.previous_id,
        rollout.candidate_percent, rollout.shadow_percent, rollout.state, rollout.paused,
        rollout.revision,
    )  # fmt: skip


def test_set_percent_routes_the_candidate_to_that_share(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=5)
    assert (rollout.candidate_percent, rollout.state) == (5, Rollout.State.RAMPING)


def test_every_change_bumps_the_revision_by_one(rollout, operator):
    before = rollout.revision
    change(rollout_set_percent, rollout, operator, percent=5)
    assert rollout.revision == before + 1


def test_every_change_writes_an_event_with_actor_from_to_reason_and_gate(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=5, reason="first real users")
    event = RolloutEvent.objects.get(rollout=rollout)
    assert (
        event.actor, event.actor_name, event.action, event.from_state["candidate_percent"],
        event.to_state["candidate_percent"], event.reason, event.gate["status"],
    ) == (operator, "olivia", "set_percent", 0, 5, "first real users", "inconclusive")  # fmt: skip


def test_change_publishes_rollout_changed_on_the_event_bus(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=5)
    assert Event.objects.filter(agent=rollout.agent, type="rollout.changed").count() == 1


def test_stale_revision_is_refused_with_a_clear_conflict(rollout, operator):
    stale = rollout.revision
    change(rollout_set_percent, rollout, operator, percent=5)
    with pytest.raises(RolloutConflict, match="changed since you loaded it"):
        rollout_set_percent(
            rollout=rollout, user=operator, expected_revision=stale, reason="x", percent=25
        )


def test_stale_revision_changes_nothing_and_writes_no_event(rollout, operator):
    stale = rollout.revision
    change(rollout_set_percent, rollout, operator, percent=5)
    before = (snapshot(rollout), RolloutEvent.objects.count(), Event.objects.count())
    with pytest.raises(RolloutConflict):
        rollout_set_percent(
            rollout=rollout, user=operator, expected_revision=stale, reason="x", percent=25
        )
    assert (snapshot(rollout), RolloutEvent.objects.count(), Event.objects.count()) == before


@pytest.mark.parametrize("percent", [-1, 101, 250])
def test_percent_outside_0_to_100_is_refused_without_a_trace(rollout, operator, percent):
    before = snapshot(rollout)
    with pytest.raises(RolloutError, match="0 to 100"):
        change(rollout_set_percent, rollout, operator, percent=percent)
    assert (snapshot(rollout), RolloutEvent.objects.count()) == (before, 0)


def test_shadow_percent_outside_0_to_100_is_refused(rollout, operator):
    with pytest.raises(RolloutError, match="0 to 100"):
        change(rollout_set_shadow_percent, rollout, operator, percent=120)


def test_missing_reason_is_refused(rollout, operator):
    with pytest.raises(RolloutError, match="reason"):
        change(rollout_set_percent, rollout, operator, percent=5, reason="  ")


def test_candidate_equal_to_production_is_refused_without_a_trace(rollout, operator):
    before = snapshot(rollout)
    with pytest.raises(RolloutError, match="already production"):
        change(rollout_start_shadow, rollout, operator, candidate=rollout.production)
    assert (snapshot(rollout), RolloutEvent.objects.count()) == (before, 0)


def test_version_of_another_agent_is_refused(rollout, operator):
    foreign = VersionFactory(agent=AgentFactory(slug="other-bot"), name="v9")
    with pytest.raises(RolloutError, match="does not belong"):
        change(rollout_start_shadow, rollout, operator, candidate=foreign)


def test_start_shadow_with_a_new_candidate_resets_its_share(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=25)
    v3 = VersionFactory(agent=rollout.agent, name="v3")
    change(rollout_start_shadow, rollout, operator, candidate=v3, shadow_percent=50)
    after = (rollout.candidate.name, rollout.candidate_percent, rollout.shadow_percent)
    assert (after, rollout.state) == (("v3", 0, 50), Rollout.State.SHADOWING)


def test_start_shadow_that_changes_nothing_is_refused_as_a_no_op(rollout, operator):
    with pytest.raises(RolloutError, match="Already shadowing v2 at 100%"):
        change(rollout_start_shadow, rollout, operator, candidate=rollout.candidate)


def test_set_percent_without_candidate_is_refused(rollout, operator):
    rollout.candidate = None
    rollout.save()
    with pytest.raises(RolloutError, match="no candidate"):
        change(rollout_set_percent, rollout, operator, percent=5)


def test_setting_the_same_percent_again_is_refused_as_a_no_op(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=5)
    with pytest.raises(RolloutError, match="already serves 5%"):
        change(rollout_set_percent, rollout, operator, percent=5)


def test_advance_walks_the_plan_steps(rollout, operator):
    seen = []
    for _ in range(3):
        change(rollout_advance, rollout, operator)
        seen.append(rollout.candidate_percent)
    assert seen == [5, 25, 100]


def test_advance_from_idle_starts_shadowing(rollout, operator):
    rollout.shadow_percent, rollout.state = 0, Rollout.State.IDLE
    rollout.save()
    change(rollout_advance, rollout, operator)
    assert (rollout.state, rollout.shadow_percent) == (Rollout.State.SHADOWING, 100)


def test_advance_past_the_last_step_is_refused(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=100)
    with pytest.raises(RolloutError, match="last step"):
        change(rollout_advance, rollout, operator)


def test_advance_follows_an_edited_plan(rollout, operator):
    rollout.plan = ["shadow", 1, 10, 50, 100]
    rollout.save()
    change(rollout_advance, rollout, operator)
    assert rollout.candidate_percent == 1


def test_pause_and_resume_toggle_the_flag(rollout, operator):
    change(rollout_pause, rollout, operator)
    paused = rollout.paused
    change(rollout_resume, rollout, operator)
    assert (paused, rollout.paused) == (True, False)


def test_pausing_twice_is_refused(rollout, operator):
    change(rollout_pause, rollout, operator)
    with pytest.raises(RolloutError, match="already paused"):
        change(rollout_pause, rollout, operator)


def test_promote_makes_the_candidate_production_and_keeps_the_previous(rollout, operator):
    passing_evidence(rollout)
    v1, v2 = rollout.production, rollout.candidate
    change(rollout_promote, rollout, operator)
    assert (rollout.production, rollout.candidate, rollout.previous, rollout.state) == (
        v2, None, v1, Rollout.State.PROMOTED,
    )  # fmt: skip


def test_promote_publishes_version_promoted(rollout, operator):
    passing_evidence(rollout)
    change(rollout_promote, rollout, operator)
    assert Event.objects.filter(type="version.promoted").count() == 1


def test_promote_against_a_failing_gate_without_override_is_refused(rollout, operator):
    pairwise_evidence(rollout, wins=100, ties=100, losses=800)
    before = snapshot(rollout)
    with pytest.raises(GateNotPassed, match="override"):
        change(rollout_promote, rollout, operator)
    assert (snapshot(rollout), RolloutEvent.objects.count()) == (before, 0)


def test_promote_with_override_records_the_override_in_the_event(rollout, operator):
    pairwise_evidence(rollout, wins=100, ties=100, losses=800)
    change(rollout_promote, rollout, operator, override=True)
    event = RolloutEvent.objects.get(action="promote")
    assert (event.override, event.gate["status"]) == (True, "fail")


def test_override_on_a_passing_gate_is_not_recorded_as_an_override(rollout, operator):
    passing_evidence(rollout)
    change(rollout_promote, rollout, operator, override=True)
    assert RolloutEvent.objects.get(action="promote").override is False


def test_promote_with_no_candidate_is_refused(rollout, operator):
    rollout.candidate = None
    rollout.save()
    with pytest.raises(RolloutError, match="no candidate to promote"):
        change(rollout_promote, rollout, operator, override=True)


def test_rollback_puts_every_user_back_on_production_at_once(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=25)
    change(rollout_rollback, rollout, operator)
    assert (rollout.candidate_percent, rollout.shadow_percent, rollout.state) == (
        0, 0, Rollout.State.ROLLED_BACK,
    )  # fmt: skip


def test_rollback_publishes_rolled_back(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=25)
    change(rollout_rollback, rollout, operator)
    assert Event.objects.filter(type="rollout.rolled_back").count() == 1


def test_rollback_after_promotion_restores_the_previous_production(rollout, operator):
    passing_evidence(rollout)
    v1, v2 = rollout.production, rollout.candidate
    change(rollout_promote, rollout, operator)
    change(rollout_rollback, rollout, operator)
    assert (rollout.production, rollout.candidate, rollout.previous, rollout.candidate_percent) == (
        v1, v2, None, 0,
    )  # fmt: skip


def test_rollback_with_nothing_to_roll_back_is_refused_without_a_trace(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=25)
    change(rollout_rollback, rollout, operator)
    before = (snapshot(rollout), RolloutEvent.objects.count())
    with pytest.raises(RolloutError, match="Nothing to roll back"):
        change(rollout_rollback, rollout, operator)
    assert (snapshot(rollout), RolloutEvent.objects.count()) == before


def test_automation_changes_are_recorded_as_system(rollout):
    rollout_set_percent(
        rollout=rollout, user=None, expected_revision=rollout.revision, reason="auto", percent=5
    )
    assert RolloutEvent.objects.get().actor_name == "system"


def test_step_started_at_moves_only_when_routing_changes(rollout, operator):
    change(rollout_set_percent, rollout, operator, percent=5)
    started = rollout.step_started_at
    change(rollout_pause, rollout, operator)
    assert rollout.step_started_at == started
