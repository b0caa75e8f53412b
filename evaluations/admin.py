from django.contrib import admin

from evaluations.models import Flag, Judge, Review, Score, ScoreRollup, VersionRollup


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ("name", "agent", "kind", "enabled", "sample_rate", "paused_reason")
    list_filter = ("agent", "kind", "enabled")
    search_fields = ("name", "agent__slug", "paused_reason")
    actions = ("pause_judges", "resume_judges")

    @admin.action(description="Pause the selected judges (their scores wait)")
    def pause_judges(self, request, queryset) -> None:
        from evaluations.services import judge_pause

        paused = sum(
            judge_pause(judge=judge, reason=f"paused by {request.user.get_username()} in admin")
            for judge in queryset.select_related("agent")
        )
        self.message_user(request, f"{paused} judge(s) paused.")

    @admin.action(description="Resume the selected judges and queue their waiting scores")
    def resume_judges(self, request, queryset) -> None:
        from evaluations.services import judge_resume

        judges = list(queryset.select_related("agent"))
        queued = sum(judge_resume(judge=judge, user=request.user) for judge in judges)
        self.message_user(request, f"{len(judges)} judge(s) resumed, {queued} score(s) queued.")


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


# ---- Datasets ----
from evaluations.models import Dataset, DatasetItem, DatasetResult, DatasetRun  # noqa: E402


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "kind", "agent", "required_for_gate", "pass_threshold")
    list_filter = ("kind", "agent", "required_for_gate")
    search_fields = ("name",)


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ("dataset", "item_id", "category", "expected_behaviour", "position")
    list_filter = ("dataset", "expected_behaviour")
    search_fields = ("item_id", "input")


@admin.register(DatasetRun)
class DatasetRunAdmin(admin.ModelAdmin):
    list_display = ("id", "dataset", "version", "status", "done", "total", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("baseline",)


@admin.register(DatasetResult)
class DatasetResultAdmin(admin.ModelAdmin):
    list_display = ("run", "item", "passed", "latency_ms", "error")
    list_filter = ("passed",)
    raw_id_fields = ("run", "item")
