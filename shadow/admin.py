from django.contrib import admin

from shadow.models import ApiKey, Feedback, Interaction, Response


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = (
        "version",
        "served",
        "output",
        "latency_ms",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "error",
    )
    readonly_fields = fields


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("external_id", "agent", "created_at", "opt_out", "processed_at")
    list_filter = ("agent", "opt_out", ("processed_at", admin.EmptyFieldListFilter))
    search_fields = ("external_id", "conversation", "input")
    date_hierarchy = "created_at"
    readonly_fields = ("user_ref", "received_at", "processed_at", "slices")
    inlines = [ResponseInline]
    show_full_result_count = False


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ("interaction", "version", "served", "latency_ms", "cost_usd", "created_at")
    list_filter = ("agent", "served", "version")
    search_fields = ("interaction__external_id", "output", "error")
    raw_id_fields = ("interaction",)
    show_full_result_count = False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("interaction", "score", "created_at")
    list_filter = ("score",)
    search_fields = ("interaction__external_id", "comment")
    raw_id_fields = ("interaction", "response")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "agent", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = ("agent", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "agent__slug")
    readonly_fields = ("prefix", "secret_hash", "created_at", "last_used_at")
    actions = ["revoke"]

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset) -> None:
        from django.utils import timezone

        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

    def has_add_permission(self, request) -> bool:
        # Keys are issued by `manage.py create_api_key`, which shows the secret once.
        return False
