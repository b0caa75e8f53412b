"""What agents answered: interactions, the responses of each version, feedback, API keys."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from rollouts.models import Agent, AgentVersion


class Interaction(models.Model):
    # Every index below leads with agent, so the foreign key needs no index of its own:
    # one index fewer to maintain on the hottest insert path.
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    external_id = models.CharField(max_length=200, help_text="Client-chosen idempotency key.")
    user_ref = models.CharField(
        max_length=64, blank=True, default="", help_text="Keyed HMAC of the user id, never the id."
    )
    conversation = models.CharField(max_length=200, blank=True, default="")
    input = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    opt_out = models.BooleanField(default=False)
    slices = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(help_text="When the user asked (client timestamp).")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set once slices, rollups and scores are prepared."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "external_id"], name="interaction_external_id_unique_per_agent"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "-created_at", "-id"], name="interaction_agent_recent"),
            models.Index(fields=["agent", "user_ref"], name="interaction_agent_user"),
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="interaction_unprocessed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.external_id}"


class Response(models.Model):
    # Each foreign key leads one of the indexes or constraints below, so none needs an
    # index of its own (fewer indexes to maintain on the hottest insert path).
    interaction = models.ForeignKey(
        Interaction, on_delete=models.CASCADE, related_name="responses", db_index=False
    )
    # A copy of interaction.agent kept for filtering without a join. Its integrity follows
    # from the interaction's own foreign key, so no per-row database check is spent on it.
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    version = models.ForeignKey(
        AgentVersion, on_delete=models.CASCADE, related_name="responses", db_index=False
    )
    served = models.BooleanField(help_text="True: the user saw it. False: shadow, logged only.")
    output = models.TextField(blank=True, default="")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set once counted in rollups and handed to the judges."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["interaction", "version"], name="response_one_per_version"
            ),
            models.UniqueConstraint(
                fields=["interaction"],
                condition=Q(served=True),
                name="response_one_served_per_interaction",
            ),
        ]
        indexes = [
            models.Index(fields=["version", "-created_at"], name="response_version_recent"),
            models.Index(fields=["agent", "-created_at"], name="response_agent_recent"),
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="response_unprocessed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.interaction_id}/{self.version_id}"


class Feedback(models.Model):
    class Score(models.IntegerChoices):
        UP = 1, "Thumbs up"
        NEUTRAL = 0, "Neutral"
        DOWN = -1, "Thumbs down"

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="feedback")
    response = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.CASCADE, related_name="feedback"
    )
    score = models.SmallIntegerField(choices=Score.choices)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(score__in=[-1, 0, 1]), name="feedback_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.interaction_id}: {self.score}"


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        INGEST = "ingest", "Ingest"
        ROUTING = "routing", "Routing"
        READ = "read", "Read"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64, help_text="SHA-256 of the secret part.")
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
