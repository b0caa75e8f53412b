"""Roles are Django groups: viewer reads, reviewer also reviews flags, operator also changes
rollouts, judges and datasets. Each role includes the ones below it."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

VIEWER = "viewer"
REVIEWER = "reviewer"
OPERATOR = "operator"
ROLE_ORDER = (VIEWER, REVIEWER, OPERATOR)


class Roles:
    def __init__(self, groups: set[str], superuser: bool) -> None:
        level = max((ROLE_ORDER.index(g) for g in groups if g in ROLE_ORDER), default=-1)
        if superuser:
            level = len(ROLE_ORDER) - 1
        self.level = level

    @property
    def can_view(self) -> bool:
        return self.level >= 0

    @property
    def can_review(self) -> bool:
        return self.level >= 1

    @property
    def can_operate(self) -> bool:
        return self.level >= 2


def user_roles(user) -> Roles:
    if user is None or not user.is_authenticated:
        return Roles(set(), False)
    cached = getattr(user, "_shadowstage_roles", None)
    if cached is None:
        cached = Roles(set(user.groups.values_list("name", flat=True)), user.is_superuser)
        user._shadowstage_roles = cached
    return cached


def role_required(role: str) -> Callable:
    """Login required, then the role (or a higher one); otherwise 403 whatever the UI showed."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            roles = user_roles(request.user)
            allowed = {
                VIEWER: roles.can_view,
                REVIEWER: roles.can_review,
                OPERATOR: roles.can_operate,
            }[role]
            if not allowed:
                raise PermissionDenied(f"this needs the {role} role")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
