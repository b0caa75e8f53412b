"""Agents, their versions, and the rollout that decides which version users get."""

import secrets
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Agent(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    expected_language = models.CharField(
        max_length=8,
        default="en",
        help_text="ISO 639-1; other languages get the edge:language slice.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class AgentVersion(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="version_unique_per_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug}@{self.name}"


def default_plan() -> list:
    return ["shadow", 5, 25, 100]


def new_salt() -> str:
    return secrets.token_hex(4)


class Rollout(models.Model):
    class State(models.TextChoices):
        IDLE = "idle", "Idle"
        SHADOWING = "shadowing", "Shadowing"
        RAMPING = "ramping", "Ramping"
        PROMOTED = "promoted", "Promoted"
        ROLLED_BACK = "rolled_back", "Rolled back"

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="rollout")
    production = models.ForeignKey(
        AgentVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    candidate = models.ForeignKey(
        AgentVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    previous = models.ForeignKey(
        AgentVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Production before the last promotion, kept for instant rollback.",
    )
    candidate_percent = models.PositiveSmallIntegerField(default=0)
    shadow_percent = models.PositiveSmallIntegerField(default=0)
    plan = models.JSONField(default=default_plan)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IDLE)
    paused = models.BooleanField(default=False)
    salt = models.CharField(max_length=32, default=new_salt)
    revision = models.PositiveIntegerField(default=1)
    step_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Gate policy (SPEC §5).
    min_samples = models.PositiveIntegerField(default=200)
    margin = models.FloatField(default=0.05)
    alpha = models.FloatField(default=0.05)
    max_error_rate = models.FloatField(default=0.05)
    max_p95_latency_ratio = models.FloatField(default=1.5)

    # Automation (opt-in) and human approval.
    auto_advance = models.BooleanField(default=False)
    auto_rollback = models.BooleanField(default=False)
    dwell_seconds = models.PositiveIntegerField(default=3600)
    approval_required_from_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Steps at or above this percent need a second operator."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(candidate_percent__lte=100), name="rollout_candidate_percent_max_100"
            ),
            models.CheckConstraint(
                condition=Q(shadow_percent__lte=100), name="rollout_shadow_percent_max_100"
            ),
            models.CheckConstraint(
                condition=Q(candidate__isnull=True)
                | Q(production__isnull=True)
                | ~Q(candidate=models.F("production")),
                name="rollout_candidate_differs_from_production",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug} rollout r{self.revision}"

    def routing_dict(self) -> dict:
        return {
            "agent": self.agent.slug,
            "production": self.production.name if self.production else None,
            "candidate": self.candidate.name if self.candidate else None,
            "candidate_percent": self.candidate_percent,
            "shadow_percent": self.shadow_percent,
            "salt": self.salt,
            "revision": self.revision,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


class RolloutEvent(models.Model):
    """The audit trail: every rollout change, who made it, from what to what, and why."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, help_text="Username, or 'system'.")
    action = models.CharField(max_length=32)
    from_state = models.JSONField(default=dict)
    to_state = models.JSONField(default=dict)
    reason = models.TextField(blank=True)
    gate = models.JSONField(default=dict, blank=True)
    override = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rollout", "-created_at"], name="rolloutevent_timeline")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name}"


# --- Rollout approvals (second-operator sign-off for big steps) ---------------------------


class RolloutApproval(models.Model):
    """A rollout step at or above the policy's percent, waiting for a second operator."""

    class Action(models.TextChoices):
        SET_PERCENT = "set_percent", "Set candidate percent"
        PROMOTE = "promote", "Promote"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="approvals")
    action = models.CharField(max_length=16, choices=Action.choices)
    percent = models.PositiveSmallIntegerField(null=True, blank=True)
    override = models.BooleanField(default=False)
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when rollout automation asked.",
    )
    requester_name = models.CharField(max_length=150)
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rollout"],
                condition=Q(status="pending"),
                name="rolloutapproval_one_pending_per_rollout",
            ),
            models.CheckConstraint(
                condition=Q(percent__isnull=True) | Q(percent__lte=100),
                name="rolloutapproval_percent_max_100",
            ),
        ]

    def __str__(self) -> str:
        target = f" {self.percent}%" if self.percent is not None else ""
        return f"{self.action}{target} ({self.status})"


# ---------------------------------------------------------------------------------------------
# Event bus (transactional outbox): events, webhook/internal subscriptions and their deliveries.
# ---------------------------------------------------------------------------------------------


class EventStream(models.Model):
    """One ordered stream of events per agent, plus one (key "global") for agent-less events.

    Publishing bumps `last_sequence` with a row lock held until the publishing transaction
    ends, so inside a stream sequences commit in order and without gaps: whoever has seen
    sequence n has seen every event before it. Cursors rely on that.
    """

    key = models.CharField(max_length=40, unique=True)
    agent = models.OneToOneField(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="event_stream"
    )
    last_sequence = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}@{self.last_sequence}"


class Event(models.Model):
    """One row of the outbox, written in the same transaction as the change it describes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40)
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    sequence = models.BigIntegerField(help_text="Position in the agent's stream: 1, 2, 3 …")
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "sequence"], name="event_sequence_unique_per_agent"
            ),
            models.UniqueConstraint(
                fields=["sequence"],
                condition=Q(agent__isnull=True),
                name="event_sequence_unique_global",
            ),
        ]
        indexes = [models.Index(fields=["type", "-created_at"], name="event_type_recent")]

    def __str__(self) -> str:
        return f"{self.type} #{self.sequence}"


class Subscription(models.Model):
    """Where an agent's events go: a webhook URL, or an internal handler by name."""

    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions"
    )
    url = models.URLField(max_length=2000, blank=True)
    handler = models.CharField(
        max_length=64, blank=True, help_text="Internal subscriber name; empty for webhooks."
    )
    event_types = models.JSONField(default=list, blank=True, help_text="Empty: every type.")
    secret = models.CharField(max_length=128, blank=True, help_text="Signs webhook bodies.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    cursor = models.BigIntegerField(
        default=0, help_text="Last stream sequence turned into deliveries for this subscription."
    )
    leased_until = models.DateTimeField(
        null=True, blank=True, help_text="One worker at a time delivers, so order holds."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(handler="") & ~Q(url="") & Q(agent__isnull=False))
                | (~Q(handler="") & Q(url="")),
                name="subscription_webhook_or_internal",
            ),
            models.UniqueConstraint(
                fields=["agent", "handler"],
                condition=~Q(handler=""),
                name="subscription_internal_once_per_agent",
            ),
            models.UniqueConstraint(
                fields=["handler"],
                condition=~Q(handler="") & Q(agent__isnull=True),
                name="subscription_internal_once_global",
            ),
        ]

    def __str__(self) -> str:
        return self.url or f"internal:{self.handler}"

    @property
    def is_webhook(self) -> bool:
        return not self.handler

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Delivery(models.Model):
    """One event for one subscription: every attempt updates this row, the id never changes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed, will retry"

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    sequence = models.BigIntegerField(help_text="Copy of the event's sequence: delivery order.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["subscription", "-sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="delivery_once_per_subscription"
            ),
        ]
        indexes = [
            models.Index(fields=["subscription", "sequence"], name="delivery_in_line"),
            models.Index(
                fields=["next_attempt_at"],
                condition=~Q(status="delivered"),
                name="delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id} ({self.status})"
