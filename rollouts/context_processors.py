from django.http import HttpRequest

from rollouts.roles import user_roles


def roles(request: HttpRequest) -> dict:
    return {"roles": user_roles(getattr(request, "user", None))}
