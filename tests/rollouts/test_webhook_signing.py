"""Signature format, the receiver-side check, and where a webhook may (not) be sent."""

import hashlib
import hmac
import ipaddress
import re
import time

import httpx
import pytest

from rollouts import webhooks
from rollouts.webhooks import (
    UnsafeWebhookUrl,
    signature_header,
    signature_verify,
    webhook_client,
    webhook_deliver,
    webhook_url_check,
)
from tests.factories import AgentFactory
from tests.rollouts.event_fixtures import publish

SECRET = "whsec_test_secret_value"
BODY = b'{"id":"e1","type":"rollout.changed"}'


def receiver_verify(secret: str, body: bytes, header: str) -> bool:
    """The 10-line receiver example from docs/events.md, verbatim."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp, received = parts["t"], parts["v1"]
    if abs(time.time() - int(timestamp)) > 300:  # refuse replays older than 5 minutes
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


def test_signature_header_has_timestamp_and_hex_hmac():
    header = signature_header(secret=SECRET, body=BODY, timestamp=1_700_000_000)
    assert re.fullmatch(r"t=1700000000,v1=[0-9a-f]{64}", header)


def test_documented_receiver_example_accepts_a_fresh_signature():
    header = signature_header(secret=SECRET, body=BODY, timestamp=int(time.time()))
    assert receiver_verify(SECRET, BODY, header)


def test_tampered_body_fails_verification():
    header = signature_header(secret=SECRET, body=BODY, timestamp=int(time.time()))
    assert not signature_verify(secret=SECRET, body=BODY + b" ", header=header)


def test_wrong_secret_fails_verification():
    header = signature_header(secret=SECRET, body=BODY, timestamp=int(time.time()))
    assert not signature_verify(secret="whsec_other", body=BODY, header=header)


def test_old_timestamp_fails_verification():
    header = signature_header(secret=SECRET, body=BODY, timestamp=int(time.time()) - 3600)
    assert not signature_verify(secret=SECRET, body=BODY, header=header)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "file:///etc/passwd", "gopher://example.com/", "example.com"]
)
def test_only_http_and_https_urls_are_allowed(url):
    with pytest.raises(UnsafeWebhookUrl):
        webhook_url_check(url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://100.64.0.1/hook",
    ],
)
def test_private_addresses_are_refused_by_default(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(UnsafeWebhookUrl):
        webhook_url_check(url=url)


def test_public_address_is_allowed_and_pinned(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert webhook_url_check(url="https://93.184.216.34/hook") == [
        ipaddress.ip_address("93.184.216.34")
    ]


def test_private_addresses_are_allowed_when_the_setting_says_so(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert webhook_url_check(url="http://127.0.0.1:9000/hook") == []


def test_host_with_any_private_record_is_refused(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(
        webhooks,
        "_resolve",
        lambda host, port: [
            ipaddress.ip_address("93.184.216.34"),
            ipaddress.ip_address("10.0.0.7"),
        ],
    )
    with pytest.raises(UnsafeWebhookUrl, match="10.0.0.7"):
        webhook_url_check(url="https://hooks.example.com/x")


@pytest.fixture
def subscription(db):
    from rollouts.models import Subscription

    agent = AgentFactory(slug="support-bot")
    return Subscription.objects.create(
        agent=agent, url="https://hooks.example.com/x", secret=SECRET
    )


def test_delivery_connects_to_the_vetted_address_with_the_original_host(
    settings, monkeypatch, subscription
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(
        webhooks, "_resolve", lambda host, port: [ipaddress.ip_address("93.184.216.34")]
    )
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            (request.url.host, request.headers["host"], request.extensions.get("sni_hostname"))
        )
        return httpx.Response(204)

    event = publish(subscription.agent)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        webhook_deliver(client=client, subscription=subscription, event=event)
    assert seen == [("93.184.216.34", "hooks.example.com", "hooks.example.com")]


def test_delivery_refuses_a_host_that_now_resolves_privately(settings, monkeypatch, subscription):
    """DNS rebinding: the name passed the check when saved, then pointed inside."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(
        webhooks, "_resolve", lambda host, port: [ipaddress.ip_address("127.0.0.1")]
    )
    sent = []
    event = publish(subscription.agent)
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    with httpx.Client(transport=transport) as client:
        outcome = webhook_deliver(client=client, subscription=subscription, event=event)
    assert (outcome.ok, outcome.error.startswith("refused"), sent) == (False, True, [])


def test_webhook_client_does_not_follow_redirects():
    """A 3xx towards an internal address would otherwise bypass the URL check."""
    with webhook_client() as client:
        assert client.follow_redirects is False


def test_redirect_answer_counts_as_a_failed_attempt(subscription):
    event = publish(subscription.agent)
    transport = httpx.MockTransport(
        lambda request: httpx.Response(302, headers={"Location": "http://169.254.169.254/"})
    )
    with httpx.Client(transport=transport) as client:
        outcome = webhook_deliver(client=client, subscription=subscription, event=event)
    assert (outcome.ok, outcome.status_code) == (False, 302)
