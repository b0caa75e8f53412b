"""Agents, their versions, and the rollout that decides which version users get."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


class Agent(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    expected_language = models.CharField(
        max_length=8, default="en", help_text="ISO 639-1; other languages get the edge:language slice."
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
