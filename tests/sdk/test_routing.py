import json

import pytest
from django.db.models import F
from shadowstage_client import Router, bucket_for

from rollouts.models import Rollout
from rollouts.routing import assignment_for_rollout
from rollouts.routing import bucket_for as server_bucket_for
from tests.conftest import wait_until
from tests.sdk.conftest import AGENT

USERS = [f"user-{n}" for n in range(10_000)]


def router_for(url: str, token: str, backup_path, **kwargs) -> Router:
    return Router(
        base_url=url,
        api_key=token,
        agent=AGENT,
        backup_path=backup_path,
        fallback_version="v1",
        **kwargs,
    )


def test_bucket_matches_spec_test_vector():
    assert bucket_for(salt="gr1", user="123") == 73


def test_bucket_matches_server_for_10000_users():
    mismatches = [
        u
        for u in USERS
        if bucket_for(salt="s4lt", user=u) != server_bucket_for(salt="s4lt", user=u)
    ]
    assert mismatches == []


@pytest.mark.parametrize(
    ("candidate_percent", "shadow_percent"), [(0, 100), (25, 60), (50, 10), (100, 100)]
)
def test_choose_matches_server_assignment_for_10000_users(
    live_url, rollout, token, backup_path, candidate_percent, shadow_percent
):
    Rollout.objects.filter(pk=rollout.pk).update(
        candidate_percent=candidate_percent, shadow_percent=shadow_percent
    )
    rollout.refresh_from_db()
    with router_for(live_url, token, backup_path) as router:
        sdk = [router.choose(u) for u in USERS]
    server = [assignment_for_rollout(rollout=rollout, user=u) for u in USERS]
    differ = [
        u
        for u, mine, theirs in zip(USERS, sdk, server, strict=True)
        if (mine.version, mine.shadow_version, mine.is_candidate, mine.bucket)
        != (theirs.served, theirs.shadow, theirs.on_candidate, theirs.bucket)
    ]
    assert differ == []


def test_nothing_known_routes_everyone_to_production(dead_url, token, backup_path):
    with router_for(dead_url, "ss_x_y", backup_path) as router:
        chosen = {(a.version, a.shadow, a.revision) for a in map(router.choose, USERS[:1000])}
    assert chosen == {("v1", False, 0)}


def test_table_is_written_to_backup_file(live_url, rollout, token, backup_path):
    with router_for(live_url, token, backup_path) as router:
        revision = router.revision
    assert json.loads(backup_path.read_text())["routing"]["revision"] == revision


def test_backup_file_is_used_when_server_unreachable_on_restart(
    live_url, rollout, token, backup_path, dead_url
):
    Rollout.objects.filter(pk=rollout.pk).update(candidate_percent=30, shadow_percent=70)
    with router_for(live_url, token, backup_path) as first:
        before = [first.choose(u) for u in USERS[:2000]]
    with router_for(dead_url, token, backup_path) as restarted:
        after = [restarted.choose(u) for u in USERS[:2000]]
        source = restarted.source
    assert (source, after) == ("backup", before)


def test_corrupt_backup_falls_back_to_production(dead_url, token, backup_path):
    backup_path.write_text('{"format": 1, "routing": {"agent": ')
    with router_for(dead_url, token, backup_path) as router:
        assert router.choose("user-1").revision == 0


def test_backup_of_another_agent_is_ignored(live_url, rollout, token, tmp_path, dead_url):
    path = tmp_path / "shared.json"
    with router_for(live_url, token, path):
        pass
    with Router(base_url=dead_url, api_key=token, agent="other-bot", backup_path=path) as other:
        assert other.source == "fail-safe"


def test_unchanged_table_is_revalidated_with_if_none_match(live_url, rollout, token, backup_path):
    with router_for(live_url, token, backup_path) as router:
        router.refresh()
        assert router.not_modified == 1


def test_startup_replaces_a_backup_from_another_database(live_url, rollout, token, backup_path):
    # Same agent, same revision (hence the same ETag), other salt: e.g. a reset database.
    stale = rollout.routing_dict() | {"salt": "other-salt"}
    backup_path.write_text(
        json.dumps({"format": 1, "etag": f'"{rollout.revision}"', "routing": stale})
    )
    with router_for(live_url, token, backup_path) as router:
        assert router.table.salt == rollout.salt


def test_background_refresh_picks_up_a_new_revision(live_url, rollout, token, backup_path):
    with router_for(live_url, token, backup_path, refresh_seconds=0.2) as router:
        Rollout.objects.filter(pk=rollout.pk).update(
            candidate_percent=100, revision=F("revision") + 1
        )
        wait_until(lambda: router.choose("anyone").is_candidate, timeout=10)
        assert router.revision == rollout.revision + 1


def test_server_error_keeps_the_last_known_table(live_url, rollout, token, backup_path):
    with router_for(live_url, token, backup_path) as router:
        revision = router.revision
        Rollout.objects.filter(pk=rollout.pk).delete()  # routing answers 404 from now on
        router.refresh()
        assert router.choose("someone").revision == revision


def test_anonymous_users_are_served_production(live_url, rollout, token, backup_path):
    Rollout.objects.filter(pk=rollout.pk).update(candidate_percent=100)
    with router_for(live_url, token, backup_path) as router:
        assert {router.choose(None).version for _ in range(200)} == {"v1"}
