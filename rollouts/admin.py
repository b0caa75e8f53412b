from django.contrib import admin

from rollouts.models import Agent, AgentVersion, Rollout, RolloutEvent


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
