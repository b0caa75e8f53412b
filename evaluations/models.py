"""Judges, the scores they give, flags for humans, reviews, and the rollups pages read."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from rollouts.models import Agent, AgentVersion
from shadow.models import Interaction, Response


class Judge(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="judges")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=32, help_text="A registered judge kind, e.g. llm_rubric.")
    params = models.JSONField(default=dict, blank=True)
    sample_rate = models.FloatField(default=1.0)
    enabled = models.BooleanField(default=True)
    paused_reason = models.TextField(blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(
        null=True, blank=True, help_text="Resume by itself after this time (e.g. daily budget)."
    )
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    daily_token_budget = models.PositiveIntegerField(null=True, blank=True)
    daily_cost_budget_usd = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    position_inconsistency_rate = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "name"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="judge_name_unique_per_agent"),
            models.CheckConstraint(
                condition=Q(sample_rate__gte=0) & Q(sample_rate__lte=1),
                name="judge_sample_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug}/{self.name}"

    @property
    def is_paused(self) -> bool:
        return bool(self.paused_reason)


class Score(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Verdict(models.TextChoices):
        WIN = "win", "Win"
        TIE = "tie", "Tie"
        LOSS = "loss", "Loss"

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="scores")
    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="scores")
    response = models.ForeignKey(
        Response,
        on_delete=models.CASCADE,
        related_name="scores",
        help_text="The scored response; for pairwise judges the candidate's.",
    )
    other_response = models.ForeignKey(
        Response,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Pairwise judges: the production response compared against.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    value = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=4, choices=Verdict.choices, blank=True, default="")
    label = models.CharField(max_length=64, blank=True, default="")
    rationale = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # --- judges pipeline: who is scoring this row right now ---
    # "<celery task id>:<nonce>": a redelivered task (same id) may take its own row back
    # after its worker died; every result write is conditional on the full claim.
    claim = models.CharField(max_length=80, blank=True, default="")
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the running attempt started; stale ones are reset."
    )
    # --- end judges pipeline ---

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "response"], name="score_once_per_judge"),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | (Q(value__gte=0) & Q(value__lte=1)),
                name="score_value_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(status__in=["pending", "running"]),
                name="score_open_work",
            ),
            models.Index(fields=["judge", "status"], name="score_judge_status"),
            models.Index(fields=["interaction"], name="score_interaction"),
        ]

    def __str__(self) -> str:
        return f"{self.judge_id}:{self.response_id} {self.status}"


class Flag(models.Model):
    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CONFIRMED = "confirmed", "Confirmed"
        DISMISSED = "dismissed", "Dismissed"
        ESCALATED = "escalated", "Escalated"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="flags")
    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="flags")
    response = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    version = models.ForeignKey(
        AgentVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    score = models.ForeignKey(
        Score, null=True, blank=True, on_delete=models.SET_NULL, related_name="flags"
    )
    rule = models.CharField(max_length=48)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    severity_rank = models.PositiveSmallIntegerField(
        default=0, help_text="0 low … 3 critical; orders the review queue."
    )
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["interaction", "response", "rule"], name="flag_once_per_rule"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "-severity_rank", "created_at"], name="flag_review_queue"
            ),
            models.Index(fields=["agent", "status", "severity"], name="flag_agent_open"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} ({self.severity}, {self.status})"


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class Review(models.Model):
    """A reviewer's decision on a flag; compared with judge verdicts for agreement."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=10, choices=Flag.Status.choices)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.flag_id}: {self.decision}"


class ScoreRollup(models.Model):
    """Hourly sufficient statistics per judge, so pages never scan raw scores.

    kind=pointwise: scores of `version` (baseline == version).
    kind=paired: d = score(version) − score(baseline) on the same interaction.
    kind=pairwise: win/tie/loss of `version` against `baseline`.
    `slice` is "" for all traffic, else a slice name or "meta:<key>=<value>".
    """

    class Kind(models.TextChoices):
        POINTWISE = "pointwise", "Pointwise"
        PAIRED = "paired", "Paired difference"
        PAIRWISE = "pairwise", "Pairwise"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="rollups")
    version = models.ForeignKey(AgentVersion, on_delete=models.CASCADE, related_name="+")
    baseline = models.ForeignKey(AgentVersion, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    slice = models.CharField(max_length=100, blank=True, default="")
    bucket = models.DateTimeField(help_text="Start of the hour.")
    n = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0)
    total_sq = models.FloatField(default=0)
    wins = models.PositiveIntegerField(default=0)
    ties = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    inconsistent = models.PositiveIntegerField(default=0)
    histogram = models.JSONField(default=list, blank=True, help_text="Counts per 0.1 of value.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["judge", "version", "baseline", "kind", "slice", "bucket"],
                name="scorerollup_cell_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "version", "bucket"], name="scorerollup_compare"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.judge_id}/{self.version_id} {self.slice or 'all'} {self.bucket}"


class VersionRollup(models.Model):
    """Hourly operational numbers per version and slice: volume, errors, latency, cost, feedback."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(AgentVersion, on_delete=models.CASCADE, related_name="+")
    slice = models.CharField(max_length=100, blank=True, default="")
    bucket = models.DateTimeField(help_text="Start of the hour.")
    responses = models.PositiveIntegerField(default=0)
    served = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost_usd = models.FloatField(default=0)
    latency_n = models.PositiveIntegerField(default=0)
    latency_total = models.FloatField(default=0)
    latency_histogram = models.JSONField(default=list, blank=True)
    feedback_up = models.PositiveIntegerField(default=0)
    feedback_down = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "slice", "bucket"], name="versionrollup_cell_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "version", "bucket"], name="versionrollup_compare"),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} {self.slice or 'all'} {self.bucket}"


# ---------------------------------------------------------------------------------------------
# Datasets: golden and red-team sets, runs of one agent version over them, and their results.
# ---------------------------------------------------------------------------------------------


class Dataset(models.Model):
    """One imported version of a named set; re-importing the same name adds a version."""

    class Kind(models.TextChoices):
        GOLDEN = "golden", "Golden"
        REDTEAM = "redteam", "Red team"

    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True, default="")
    source_filename = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    required_for_gate = models.BooleanField(
        default=False, help_text="The rollout gate needs a passing run of the candidate."
    )
    pass_threshold = models.FloatField(
        default=0.9, help_text="Share of items that must pass for the gate check."
    )

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="dataset_name_version_unique"),
            models.CheckConstraint(
                condition=Q(pass_threshold__gte=0) & Q(pass_threshold__lte=1),
                name="dataset_pass_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class DatasetItem(models.Model):
    class Behaviour(models.TextChoices):
        REFUSE = "refuse", "Refuse"
        COMPLY = "comply", "Comply"
        SAFE_COMPLETE = "safe_complete", "Safe completion"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    item_id = models.CharField(max_length=200)
    input = models.TextField(blank=True)
    expected = models.TextField(blank=True, default="")
    category = models.CharField(max_length=64, blank=True, default="")
    expected_behaviour = models.CharField(
        max_length=16, choices=Behaviour.choices, blank=True, default=""
    )
    tags = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["dataset", "position"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "item_id"], name="datasetitem_id_unique"),
        ]
        indexes = [models.Index(fields=["dataset", "position"], name="datasetitem_run_order")]

    def __str__(self) -> str:
        return f"{self.dataset_id}:{self.item_id}"


class DatasetRun(models.Model):
    """One agent version answering every item of one dataset version, in checkpointed chunks."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(AgentVersion, on_delete=models.CASCADE, related_name="dataset_runs")
    connector = models.JSONField(
        default=dict, help_text="Connector kind and settings; secrets are named env variables."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    paused_reason = models.TextField(blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A chunk task holds the run until then."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life; the sweeper pauses stale runs."
    )
    baseline = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(done__lte=models.F("total")), name="datasetrun_done_le_total"
            ),
        ]
        indexes = [
            models.Index(fields=["dataset", "version", "status"], name="datasetrun_gate_lookup"),
            models.Index(
                fields=["status", "heartbeat_at"],
                condition=Q(status__in=["queued", "running"]),
                name="datasetrun_open_work",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.dataset} on {self.version.name}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def progress_percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


class DatasetResult(models.Model):
    run = models.ForeignKey(DatasetRun, on_delete=models.CASCADE, related_name="results")
    item = models.ForeignKey(DatasetItem, on_delete=models.CASCADE, related_name="results")
    output = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    passed = models.BooleanField(default=False)
    details = models.JSONField(default=dict, blank=True, help_text="Why it passed or failed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "item"], name="datasetresult_once_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.item_id} {'pass' if self.passed else 'fail'}"


# --- judges pipeline: daily spend per judge ---
class JudgeDailyUsage(models.Model):
    """What a judge spent and did on one UTC day; written in the same transaction as the score.

    Kept in PostgreSQL rather than Redis so a score and its cost are committed together: a
    worker killed mid-call charges nothing, a redelivered task charges once.
    """

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    calls = models.PositiveIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    scores_done = models.PositiveIntegerField(
        default=0, help_text="Scores finished that day; their sum is the judge's done count."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "day"], name="judgeusage_once_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.judge_id} {self.day}: {self.calls} calls"

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


# --- end judges pipeline ---
