from django.contrib import admin

from rollouts.models import Agent, AgentVersion, Rollout, RolloutApproval, RolloutEvent


class VersionInline(admin.TabularInline):
    model = AgentVersion
    extra = 0
    fields = ("name", "notes", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "expected_language", "created_at")
    search_fields = ("slug", "name", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [VersionInline]


@admin.register(AgentVersion)
class AgentVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "agent", "created_at")
    list_filter = ("agent",)
    search_fields = ("name", "notes", "agent__slug")


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = (
        "agent",
        "state",
        "production",
        "candidate",
        "candidate_percent",
        "shadow_percent",
        "revision",
        "updated_at",
    )
    list_filter = ("state", "paused", "auto_advance", "auto_rollback")
    search_fields = ("agent__slug",)
    # Rollout changes go through the audited services on the rollout page.
    readonly_fields = (
        "production",
        "candidate",
        "previous",
        "candidate_percent",
        "shadow_percent",
        "state",
        "salt",
        "revision",
        "step_started_at",
    )


@admin.register(RolloutEvent)
class RolloutEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rollout", "action", "actor_name", "override")
    list_filter = ("action", "override", "rollout__agent")
    search_fields = ("reason", "actor_name", "rollout__agent__slug")
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- Event bus ----------------------------------------------------------------------------------
from rollouts.models import Delivery, Event, Subscription  # noqa: E402


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "type", "agent", "sequence", "id")
    list_filter = ("type", "agent")
    search_fields = ("id", "agent__slug")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "type", "agent", "sequence", "payload", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "agent", "enabled", "failing_since", "cursor", "created_at")
    list_filter = ("enabled", "agent")
    search_fields = ("url", "handler", "agent__slug")
    exclude = ("secret",)
    readonly_fields = ("cursor", "leased_until", "failing_since", "disabled_at", "created_by")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event",
        "subscription",
        "status",
        "attempts",
        "response_code",
        "duration_ms",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "subscription__agent")
    raw_id_fields = ("event", "subscription")


@admin.register(RolloutApproval)
class RolloutApprovalAdmin(admin.ModelAdmin):
    list_display = ("requested_at", "rollout", "action", "percent", "requester_name", "status")
    list_filter = ("status", "action", "rollout__agent")
    # Requests are decided on the rollout page, where the decision is audited.
    readonly_fields = [f.name for f in RolloutApproval._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
