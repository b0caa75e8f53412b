from hypothesis import given
from hypothesis import strategies as st

from rollouts.routing import assignment_for, bucket_for

users = st.text(min_size=1, max_size=40)
salts = st.text(alphabet="0123456789abcdef", min_size=1, max_size=16)
percents = st.integers(min_value=0, max_value=100)


def route(*, user: str, salt: str = "gr1", candidate_percent: int = 0, shadow_percent: int = 0):
    return assignment_for(
        salt=salt,
        user=user,
        production="v1",
        candidate="v2",
        candidate_percent=candidate_percent,
        shadow_percent=shadow_percent,
    )


def test_bucket_matches_the_published_test_vector():
    assert bucket_for(salt="gr1", user="123") == 73


@given(salt=salts, user=users)
def test_bucket_is_between_1_and_100(salt, user):
    assert 1 <= bucket_for(salt=salt, user=user) <= 100


def test_user_in_bucket_73_gets_the_candidate_from_73_percent():
    assert (
        route(user="123", candidate_percent=72).served,
        route(user="123", candidate_percent=73).served,
    ) == ("v1", "v2")


@given(salt=salts, user=users, low=percents, high=percents)
def test_raising_candidate_percent_never_moves_a_user_back_to_production(salt, user, low, high):
    low, high = sorted((low, high))
    before = route(salt=salt, user=user, candidate_percent=low)
    after = route(salt=salt, user=user, candidate_percent=high)
    assert not (before.served == "v2" and after.served == "v1")


@given(salt=salts, user=users, low=percents, high=percents, candidate_percent=percents)
def test_raising_shadow_percent_never_drops_a_shadowed_user(
    salt, user, low, high, candidate_percent
):
    low, high = sorted((low, high))
    before = route(salt=salt, user=user, candidate_percent=candidate_percent, shadow_percent=low)
    after = route(salt=salt, user=user, candidate_percent=candidate_percent, shadow_percent=high)
    assert not (before.shadow is not None and after.shadow is None)


@given(salt=salts, user=users, candidate_percent=percents, shadow_percent=percents)
def test_shadow_is_the_other_version_iff_bucket_within_shadow_percent(
    salt, user, candidate_percent, shadow_percent
):
    a = route(
        salt=salt, user=user, candidate_percent=candidate_percent, shadow_percent=shadow_percent
    )
    other = "v1" if a.served == "v2" else "v2"
    assert a.shadow == (other if a.bucket <= shadow_percent else None)


def test_users_served_the_candidate_get_production_in_shadow():
    assert route(user="123", candidate_percent=100, shadow_percent=100).shadow == "v1"


def test_users_served_production_get_the_candidate_in_shadow():
    assert route(user="123", candidate_percent=0, shadow_percent=100).shadow == "v2"


def test_without_a_candidate_everyone_gets_production_and_no_shadow():
    a = assignment_for(
        salt="gr1",
        user="123",
        production="v1",
        candidate=None,
        candidate_percent=50,
        shadow_percent=100,
    )
    assert (a.served, a.shadow) == ("v1", None)


def test_candidate_share_of_many_users_is_close_to_the_percent():
    served = [route(user=f"user-{i}", candidate_percent=25).served for i in range(20_000)]
    assert abs(served.count("v2") / len(served) - 0.25) < 0.02
