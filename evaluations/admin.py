from django.contrib import admin

from evaluations.models import Flag, Judge, Review, Score, ScoreRollup, VersionRollup


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ("name", "agent", "kind", "enabled", "sample_rate", "paused_reason")
    list_filter = ("agent", "kind", "enabled")
    search_fields = ("name", "agent__slug", "paused_reason")


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ("id", "judge", "status", "value", "verdict", "attempts", "updated_at")
    list_filter = ("status", "judge", "verdict")
    search_fields = ("interaction__external_id", "rationale", "last_error")
    raw_id_fields = ("interaction", "response", "other_response")
    show_full_result_count = False


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ("id", "agent", "rule", "severity", "status", "created_at", "reviewer")
    list_filter = ("agent", "status", "severity", "rule")
    search_fields = ("reason", "note", "interaction__external_id")
    raw_id_fields = ("interaction", "response", "score")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("flag", "decision", "reviewer", "created_at")
    list_filter = ("decision",)
    raw_id_fields = ("flag",)


@admin.register(ScoreRollup)
class ScoreRollupAdmin(admin.ModelAdmin):
    list_display = ("judge", "version", "baseline", "kind", "slice", "bucket", "n")
    list_filter = ("kind", "judge")


@admin.register(VersionRollup)
class VersionRollupAdmin(admin.ModelAdmin):
    list_display = ("version", "slice", "bucket", "responses", "errors", "latency_n")
    list_filter = ("agent",)
