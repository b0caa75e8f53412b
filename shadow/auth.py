"""Bearer API keys: one agent each, scoped, stored hashed."""

import hmac

from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBearer

from rollouts.models import Agent
from shadow.keys import secret_hash, token_split
from shadow.models import ApiKey


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        parts = token_split(token)
        if parts is None:
            return None
        prefix, secret = parts
        key = (
            ApiKey.objects.select_related("agent")
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
        )
        if key is None or not hmac.compare_digest(key.secret_hash, secret_hash(secret)):
            return None
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key


def require_scope(request: HttpRequest, scope: str) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if not key.has_scope(scope):
        raise HttpError(403, f"this API key lacks the '{scope}' scope")
    return key


def require_agent(key: ApiKey, slug: str) -> Agent:
    """Least privilege: a key for one agent never reads or writes another's data."""
    if key.agent.slug != slug:
        raise HttpError(403, f"this API key belongs to agent '{key.agent.slug}', not '{slug}'")
    return key.agent
