import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection

from rollouts.models import RolloutEvent
from rollouts.services import RolloutConflict, rollout_set_percent
from tests.factories import AgentFactory, RolloutFactory


@pytest.mark.django_db(transaction=True)
def test_two_operators_clicking_at_once_never_lose_an_update():
    rollout = RolloutFactory(agent=AgentFactory(slug="support-bot"))
    # Services do not check roles (views do), and transactional tests may run after the
    # role groups were flushed, so plain users are enough here.
    users = [User.objects.create_user(username=f"op{i}") for i in range(2)]
    seen_revision = rollout.revision
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click(user, percent):
        try:
            barrier.wait()
            rollout_set_percent(
                rollout=rollout.__class__.objects.get(pk=rollout.pk),
                user=user,
                expected_revision=seen_revision,
                reason=f"{user.username} wants {percent}%",
                percent=percent,
            )
            outcomes.append("applied")
        except RolloutConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=click, args=(u, p)) for u, p in zip(users, (5, 25), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rollout.refresh_from_db()
    applied = RolloutEvent.objects.get(rollout=rollout)
    assert (sorted(outcomes), rollout.revision, rollout.candidate_percent) == (
        ["applied", "conflict"], seen_revision + 1, applied.to_state["candidate_percent"],
    )  # fmt: skip
