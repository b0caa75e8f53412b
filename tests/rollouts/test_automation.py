from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery_app import app
from rollouts.automation import (
    ADVANCED,
    APPROVAL_REQUESTED,
    ROLLED_BACK,
    rollout_automation_tick,
)
from rollouts.models import Rollout, RolloutApproval, RolloutEvent
from rollouts.tasks import automation_tick_task
from tests.conftest import wait_until
from tests.factories import AgentFactory, RolloutFactory
from tests.rollouts.factories import (
    critical_flag,
    ops,
    pairwise_evidence,
    passing_evidence,
    this_hour,
)


def make_rollout(*, percent=5, auto_advance=True, auto_rollback=True, dwell_elapsed=True, **extra):
    rollout = RolloutFactory(agent=AgentFactory(slug="support-bot"))
    rollout.candidate_percent = percent
    rollout.state = Rollout.State.RAMPING if percent else Rollout.State.SHADOWING
    rollout.auto_advance, rollout.auto_rollback = auto_advance, auto_rollback
    rollout.dwell_seconds = 3600
    ago = timedelta(hours=2) if dwell_elapsed else timedelta(minutes=5)
    rollout.step_started_at = timezone.now() - ago
    for key, value in extra.items():
        setattr(rollout, key, value)
    rollout.save()
    return rollout


@pytest.fixture
def healthy(db):
    rollout = make_rollout()
    passing_evidence(rollout)
    return rollout


def test_passing_gate_after_the_dwell_time_advances_to_the_next_step(healthy):
    outcome = rollout_automation_tick(rollout=healthy)
    healthy.refresh_from_db()
    assert (outcome, healthy.candidate_percent) == (ADVANCED, 25)


def test_automatic_advance_is_a_system_event_with_the_gate(healthy):
    rollout_automation_tick(rollout=healthy)
    event = RolloutEvent.objects.get()
    assert (event.actor_name, event.action, event.gate["status"]) == ("system", "advance", "pass")


def test_no_advance_before_the_dwell_time(db):
    rollout = make_rollout(dwell_elapsed=False)
    passing_evidence(rollout)
    assert rollout_automation_tick(rollout=rollout) is None


def test_no_advance_when_auto_advance_is_off(db):
    rollout = make_rollout(auto_advance=False)
    passing_evidence(rollout)
    assert rollout_automation_tick(rollout=rollout) is None


def test_no_advance_while_paused(db):
    rollout = make_rollout(paused=True)
    passing_evidence(rollout)
    assert rollout_automation_tick(rollout=rollout) is None


def test_no_advance_when_the_gate_is_inconclusive(db):
    rollout = make_rollout()
    assert rollout_automation_tick(rollout=rollout) is None


def test_sample_ratio_mismatch_blocks_auto_advance(db):
    rollout = make_rollout(step_started_at=this_hour() - timedelta(hours=2))
    passing_evidence(rollout)
    ops(rollout.production, responses=1, served=500, bucket=this_hour() - timedelta(hours=1))
    ops(rollout.candidate, responses=1, served=500, bucket=this_hour() - timedelta(hours=1))
    assert rollout_automation_tick(rollout=rollout) is None


def test_never_promotes_from_the_last_step(db):
    rollout = make_rollout(percent=100)
    passing_evidence(rollout)
    rollout_automation_tick(rollout=rollout)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.candidate.name) == (Rollout.State.RAMPING, "v2")


def test_step_needing_approval_becomes_a_system_request(db):
    rollout = make_rollout(percent=25, approval_required_from_percent=100)
    passing_evidence(rollout)
    outcome = rollout_automation_tick(rollout=rollout)
    approval = RolloutApproval.objects.get()
    rollout.refresh_from_db()
    assert (outcome, approval.requester_name, approval.percent, rollout.candidate_percent) == (
        APPROVAL_REQUESTED, "system", 100, 25,
    )  # fmt: skip


def test_pending_request_is_not_filed_twice(db):
    rollout = make_rollout(percent=25, approval_required_from_percent=100)
    passing_evidence(rollout)
    rollout_automation_tick(rollout=rollout)
    rollout.refresh_from_db()
    assert rollout_automation_tick(rollout=rollout) is None


def test_harmful_win_rate_rolls_back_automatically(db):
    rollout = make_rollout(auto_advance=False)
    pairwise_evidence(rollout, wins=150, ties=100, losses=750)
    outcome = rollout_automation_tick(rollout=rollout)
    rollout.refresh_from_db()
    assert (outcome, rollout.candidate_percent, rollout.state) == (
        ROLLED_BACK, 0, Rollout.State.ROLLED_BACK,
    )  # fmt: skip


def test_automatic_rollback_records_system_event_with_evidence(db):
    rollout = make_rollout(auto_advance=False)
    pairwise_evidence(rollout, wins=150, ties=100, losses=750)
    rollout_automation_tick(rollout=rollout)
    event = RolloutEvent.objects.get(action="rollback")
    assert (event.actor_name, "win_rate:pairwise: upper bound" in event.reason) == ("system", True)


def test_error_rate_over_the_limit_rolls_back(db):
    rollout = make_rollout(auto_advance=False)
    ops(rollout.candidate, responses=400, errors=120)
    assert rollout_automation_tick(rollout=rollout) == ROLLED_BACK


def test_new_critical_flag_rolls_back(db):
    rollout = make_rollout(auto_advance=False)
    critical_flag(rollout)
    assert rollout_automation_tick(rollout=rollout) == ROLLED_BACK


def test_harm_in_shadow_only_does_not_roll_back(db):
    rollout = make_rollout(percent=0, auto_advance=False)
    pairwise_evidence(rollout, wins=150, ties=100, losses=750)
    assert rollout_automation_tick(rollout=rollout) is None


def test_no_rollback_when_auto_rollback_is_off(db):
    rollout = make_rollout(auto_advance=False, auto_rollback=False)
    pairwise_evidence(rollout, wins=150, ties=100, losses=750)
    assert rollout_automation_tick(rollout=rollout) is None


def test_after_a_rollback_automation_does_not_restart_the_rollout(db):
    rollout = make_rollout()
    pairwise_evidence(rollout, wins=150, ties=100, losses=750)
    rollout_automation_tick(rollout=rollout)
    rollout.refresh_from_db()
    assert rollout_automation_tick(rollout=rollout) is None


def test_beat_runs_the_automation_every_minute():
    entries = {e["task"]: e["schedule"] for e in app.conf.beat_schedule.values()}
    assert entries.get("rollouts.automation_tick_task") == 60.0


@pytest.mark.celery_worker
def test_beat_task_advances_an_opted_in_rollout_on_a_real_worker(celery_worker):
    rollout = make_rollout()
    passing_evidence(rollout)
    automation_tick_task.delay()
    wait_until(
        lambda: Rollout.objects.get(pk=rollout.pk).candidate_percent == 25,
        timeout=60,
        message="the worker did not advance the rollout",
    )


def test_task_for_one_agent_leaves_other_agents_alone(db):
    rollout = make_rollout()
    passing_evidence(rollout)
    other = RolloutFactory(agent=AgentFactory(slug="other-bot"), auto_advance=True)
    assert automation_tick_task.run(agent_id=other.agent_id) == {}
