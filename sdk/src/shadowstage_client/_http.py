"""HTTP plumbing shared by the router and the recorder: clients, retry policy, Retry-After."""

from __future__ import annotations

import os
import random
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

USER_AGENT = "shadowstage-client/0.1"
MAX_RETRY_AFTER_SECONDS = 3600.0


def http_client(*, base_url: str, api_key: str, timeout: float) -> httpx.Client:
    return httpx.Client(
        base_url=base_url.rstrip("/") + "/api/v1",
        headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
        # Connecting is the part that hangs when a host is gone; keep it short.
        timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
    )


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter; a server's Retry-After always wins."""

    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, *, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            # Never sooner than asked; a little spread so many clients do not return together.
            return retry_after + random.uniform(0, 0.25)
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** min(attempt, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def is_transient(status: int) -> bool:
    return status == 429 or status == 408 or status >= 500


class ForkAware(Protocol):
    def _after_fork_in_child(self) -> None: ...


_LIVE: weakref.WeakSet = weakref.WeakSet()


def restart_after_fork(instance: ForkAware) -> None:
    """Background threads do not survive fork(); give pre-forked servers their own."""
    _LIVE.add(instance)


def _restart_all() -> None:
    for instance in list(_LIVE):
        instance._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_all)
