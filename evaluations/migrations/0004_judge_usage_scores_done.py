from datetime import UTC

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Coalesce, TruncDate


def scores_done_backfill(apps, schema_editor):
    """Count the scores already done, per judge and UTC day they finished."""
    Score = apps.get_model("evaluations", "Score")
    JudgeDailyUsage = apps.get_model("evaluations", "JudgeDailyUsage")
    finished = (
        Score.objects.filter(status="done")
        .annotate(day=TruncDate(Coalesce("finished_at", "updated_at"), tzinfo=UTC))
        .values("judge_id", "day")
        .annotate(done=Count("id"))
        .order_by()
    )
    for row in finished.iterator():
        JudgeDailyUsage.objects.update_or_create(
            judge_id=row["judge_id"], day=row["day"], defaults={"scores_done": row["done"]}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0003_judges_pipeline"),
    ]

    operations = [
        migrations.AddField(
            model_name="judgedailyusage",
            name="scores_done",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Scores finished that day; their sum is the judge's done count.",
            ),
        ),
        migrations.RunPython(scores_done_backfill, migrations.RunPython.noop),
    ]
