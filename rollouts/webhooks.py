"""Webhooks: the signed HTTP POST of one event, where it may be sent, and subscription writes."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from rollouts.events import EVENT_TYPES, event_envelope, stream_key
from rollouts.models import Agent, Delivery, Event, EventStream, Subscription

SIGNATURE_HEADER = "X-Shadowstage-Signature"
EVENT_HEADER = "X-Shadowstage-Event"
DELIVERY_HEADER = "X-Shadowstage-Delivery"
USER_AGENT = "Shadowstage-Webhooks/1"
DEFAULT_TIMEOUT_SECONDS = 10.0
# Enough of an error page to tell what went wrong, never a whole response into the database.
ERROR_BODY_BYTES = 512
ANSWER_READ_BYTES = 64 * 1024

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ValueError):
    """The URL is not http(s), does not resolve, or points into a private network."""


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


# --- Signing ----------------------------------------------------------------------------------


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`; the timestamp lets receivers refuse replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_verify(
    *, secret: str, body: bytes, header: str, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = signature_header(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def event_body(*, event: Event) -> bytes:
    return json.dumps(
        event_envelope(event=event), cls=DjangoJSONEncoder, separators=(",", ":")
    ).encode()


# --- Where a webhook may go (server-side request forgery) ----------------------------------------


def _is_public(ip: IpAddress) -> bool:
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    ip = mapped or ip
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[IpAddress]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"{host} does not resolve ({exc})") from None
    return list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )


def webhook_url_check(*, url: str) -> list[IpAddress]:
    """Refuse what a webhook must never reach; return the vetted addresses to connect to.

    With WEBHOOK_ALLOW_PRIVATE_URLS (local development, tests) only the scheme is checked
    and nothing is pinned. Otherwise every address the host resolves to must be public: one
    private record is enough for an attacker to aim at the internal network.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeWebhookUrl(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl("only http:// and https:// webhook URLs are allowed")
    if not parsed.host:
        raise UnsafeWebhookUrl("the URL has no host")
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", False):
        return []
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = _resolve(parsed.host, port)
    for ip in addresses:
        if not _is_public(ip):
            raise UnsafeWebhookUrl(
                f"{parsed.host} resolves to {ip}, a loopback, private or link-local address"
            )
    if not addresses:
        raise UnsafeWebhookUrl(f"{parsed.host} does not resolve")
    return addresses


# --- One delivery attempt ---------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptOutcome:
    ok: bool
    status_code: int | None = None
    duration_ms: int = 0
    error: str = ""
    retry_after: float | None = None
    # The receiver said the endpoint is gone for good (410), or it can never work.
    permanent: bool = False


def webhook_client() -> httpx.Client:
    """Redirects are not followed: a 3xx to an internal address would bypass the URL check."""
    limit = timeout_seconds()
    return httpx.Client(
        timeout=httpx.Timeout(limit, connect=min(limit, 5.0)),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def webhook_deliver(
    *, client: httpx.Client, subscription: Subscription, event: Event
) -> AttemptOutcome:
    """POST one event, signed; any 2xx is success. Never raises for network trouble."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        # Resolved again on every attempt and the connection pinned to the vetted address:
        # a DNS answer that changed since the subscription was saved cannot slip through.
        pinned = webhook_url_check(url=subscription.url)
    except UnsafeWebhookUrl as exc:
        return AttemptOutcome(ok=False, duration_ms=elapsed_ms(), error=f"refused: {exc}")
    body = event_body(event=event)
    url = httpx.URL(subscription.url)
    headers = {
        EVENT_HEADER: event.type,
        DELIVERY_HEADER: str(event.id),
        SIGNATURE_HEADER: signature_header(
            secret=subscription.secret, body=body, timestamp=int(time.time())
        ),
    }
    extensions: dict = {}
    if pinned:
        headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
        url = url.copy_with(host=str(pinned[0]))
    try:
        with client.stream(
            "POST", url, content=body, headers=headers, extensions=extensions
        ) as response:
            # Reading a small answer to the end keeps the connection reusable; a big one is
            # cut off (and its connection dropped) instead of filling the worker's memory.
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= ANSWER_READ_BYTES:
                    break
    except httpx.TimeoutException as exc:
        return AttemptOutcome(
            ok=False,
            duration_ms=elapsed_ms(),
            error=f"timed out after {timeout_seconds():g} s ({type(exc).__name__})",
        )
    except httpx.HTTPError as exc:
        return AttemptOutcome(
            ok=False, duration_ms=elapsed_ms(), error=f"{type(exc).__name__}: {exc}"
        )
    code = response.status_code
    if response.is_success:
        return AttemptOutcome(ok=True, status_code=code, duration_ms=elapsed_ms())
    text = excerpt[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
    return AttemptOutcome(
        ok=False,
        status_code=code,
        duration_ms=elapsed_ms(),
        error=f"HTTP {code}" + (f": {text}" if text else ""),
        retry_after=_retry_after(response.headers.get("Retry-After")),
        permanent=code == 410,
    )


# --- Subscription writes (the webhook settings page calls these) ------------------------------


def _types_clean(event_types: list[str]) -> list[str]:
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}")
    return sorted(set(event_types))


def subscription_create(
    *,
    agent: Agent,
    url: str,
    event_types: list[str],
    secret: str = "",
    user: User | AnonymousUser | None = None,
) -> tuple[Subscription, str]:
    """Subscribe a URL to the agent's future events; returns the secret (shown once)."""
    webhook_url_check(url=url)
    types = _types_clean(event_types)
    secret = secret or secret_generate()
    with transaction.atomic():
        watermark = (
            EventStream.objects.filter(key=stream_key(agent.pk))
            .values_list("last_sequence", flat=True)
            .first()
        )
        subscription = Subscription.objects.create(
            agent=agent,
            url=url,
            event_types=types,
            secret=secret,
            cursor=watermark or 0,
            created_by=user if isinstance(user, User) else None,
        )
    return subscription, secret


def subscription_delete(*, subscription: Subscription) -> None:
    subscription.delete()


def subscription_disable(*, subscription: Subscription, reason: str) -> bool:
    """Stop delivering; pending deliveries wait for a re-enable, nothing is dropped."""
    changed = Subscription.objects.filter(pk=subscription.pk, enabled=True).update(
        enabled=False, disabled_reason=reason, disabled_at=timezone.now()
    )
    subscription.refresh_from_db()
    return bool(changed)


def subscription_enable(*, subscription: Subscription) -> None:
    from rollouts.event_tasks import deliver_enqueue

    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(
            enabled=True, disabled_reason="", disabled_at=None, failing_since=None
        )
        # The backlog is sent right away instead of waiting out the last backoff.
        Delivery.objects.filter(subscription=subscription).exclude(
            status=Delivery.Status.DELIVERED
        ).update(next_attempt_at=timezone.now())
        transaction.on_commit(lambda: deliver_enqueue(subscription_id=subscription.pk))
    subscription.refresh_from_db()


def delivery_redeliver(*, delivery: Delivery) -> None:
    """Send the same event (same delivery id) again, e.g. after fixing the receiver."""
    from rollouts.event_tasks import deliver_enqueue

    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.PENDING, next_attempt_at=timezone.now()
        )
        transaction.on_commit(lambda: deliver_enqueue(subscription_id=delivery.subscription_id))
    delivery.refresh_from_db()
