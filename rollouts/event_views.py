"""Pages of the event bus: the live feed (viewer) and an agent's webhook settings (operator)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from rollouts.event_selectors import (
    deliveries_recent,
    event_summary,
    feed_cursor_decode,
    feed_page,
    feed_since,
    webhooks_for_agent,
)
from rollouts.events import EVENT_TYPES
from rollouts.models import Agent, Delivery, Event, Subscription
from rollouts.roles import OPERATOR, VIEWER, role_required
from rollouts.webhooks import (
    UnsafeWebhookUrl,
    delivery_redeliver,
    subscription_create,
    subscription_delete,
    subscription_enable,
    webhook_url_check,
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


SECRET_ONCE_SESSION_KEY = "webhook_secret_once"


# --- Live feed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedRow:
    event: Event
    summary: str
    payload_json: str


def _rows(events: list[Event]) -> list[FeedRow]:
    return [
        FeedRow(
            event=e,
            summary=event_summary(event=e),
            payload_json=json.dumps(e.payload, indent=2, sort_keys=True, default=str),
        )
        for e in events
    ]


@require_GET
@role_required(VIEWER)
@vary_on_headers("HX-Request")
def events_feed(request: HtmxHttpRequest) -> HttpResponse:
    slug = request.GET.get("agent", "")
    event_type = request.GET.get("type", "")
    agent = Agent.objects.filter(slug=slug).first() if slug else None
    if event_type not in EVENT_TYPES:
        event_type = ""
    if request.htmx and "cursor" in request.GET:
        cursor = feed_cursor_decode(request.GET["cursor"])
        if cursor is None:
            return HttpResponse(status=204)
        page = feed_since(cursor=cursor, agent=agent, event_type=event_type)
        if not page.events and page.cursor == request.GET["cursor"]:
            return HttpResponse(status=204)
        return render(
            request,
            "rollouts/events.html#feed-new",
            {"rows": _rows(page.events), "cursor": page.cursor},
        )
    page = feed_page(agent=agent, event_type=event_type)
    query = urlencode({k: v for k, v in (("agent", slug), ("type", event_type)) if v})
    return render(
        request,
        "rollouts/events.html",
        {
            "rows": _rows(page.events),
            "cursor": page.cursor,
            "poll_url": reverse("events_feed") + (f"?{query}" if query else ""),
            "agents": Agent.objects.order_by("slug").values_list("slug", flat=True),
            "event_types": EVENT_TYPES,
            "selected_agent": slug,
            "selected_type": event_type,
        },
    )


# --- Webhook settings -------------------------------------------------------------------------


class WebhookForm(forms.Form):
    url = forms.CharField(
        max_length=2000,
        label="Payload URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/shadowstage"}),
    )
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )
    secret = forms.CharField(
        max_length=128,
        min_length=16,
        required=False,
        help_text="Leave empty to generate one. It is shown once.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            webhook_url_check(url=url)
        except UnsafeWebhookUrl as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


def _webhooks_url(agent: Agent) -> str:
    return reverse("webhooks", kwargs={"slug": agent.slug})


def _log_context(subscription: Subscription, agent: Agent) -> dict:
    return {
        "subscription": subscription,
        "agent": agent,
        "deliveries": deliveries_recent(subscription=subscription),
    }


@role_required(OPERATOR)
def webhooks_page(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    agent = get_object_or_404(Agent, slug=slug)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription, secret = subscription_create(
                agent=agent,
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                secret=form.cleaned_data["secret"],
                user=request.user,
            )
        except UnsafeWebhookUrl as exc:
            form.add_error("url", str(exc))
        else:
            request.session[SECRET_ONCE_SESSION_KEY] = {"id": subscription.pk, "secret": secret}
            messages.success(request, f"Webhook added: {subscription.url}")
            return redirect(_webhooks_url(agent))
    elif request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405)
    secret_once = request.session.pop(SECRET_ONCE_SESSION_KEY, None)
    subscriptions = webhooks_for_agent(agent=agent)
    return render(
        request,
        "rollouts/webhooks.html",
        {
            "agent": agent,
            "form": form,
            "secret_once": secret_once,
            "webhooks": [
                {
                    **_log_context(s, agent),
                    "show_secret": bool(secret_once) and secret_once["id"] == s.pk,
                }
                for s in subscriptions
            ],
        },
        status=400 if request.method == "POST" else 200,
    )


def _subscription(agent: Agent, pk: int) -> Subscription:
    return get_object_or_404(Subscription, pk=pk, agent=agent, handler="")


@require_GET
@role_required(OPERATOR)
@vary_on_headers("HX-Request")
def webhook_log(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    agent = get_object_or_404(Agent, slug=slug)
    subscription = _subscription(agent, pk)
    return render(request, "rollouts/webhooks.html#delivery-log", _log_context(subscription, agent))


@require_POST
@role_required(OPERATOR)
def webhook_delete(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    agent = get_object_or_404(Agent, slug=slug)
    subscription = _subscription(agent, pk)
    url = subscription.url
    subscription_delete(subscription=subscription)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f"Webhook removed: {url}")
    return redirect(_webhooks_url(agent))


@require_POST
@role_required(OPERATOR)
def webhook_enable(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    agent = get_object_or_404(Agent, slug=slug)
    subscription = _subscription(agent, pk)
    subscription_enable(subscription=subscription)
    messages.success(
        request, f"Webhook re-enabled; pending deliveries are being sent: {subscription.url}"
    )
    return redirect(_webhooks_url(agent))


@require_POST
@role_required(OPERATOR)
def webhook_redeliver(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    agent = get_object_or_404(Agent, slug=slug)
    delivery = get_object_or_404(
        Delivery, pk=pk, subscription__agent=agent, subscription__handler=""
    )
    delivery_redeliver(delivery=delivery)
    if request.htmx:
        return render(
            request,
            "rollouts/webhooks.html#delivery-log",
            _log_context(delivery.subscription, agent),
        )
    messages.success(request, f"Delivery of {delivery.event_id} queued again.")
    return redirect(_webhooks_url(agent))
