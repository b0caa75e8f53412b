"""GET /healthz: 200 when the database and broker answer, 503 naming what is down."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from config.celery_app import app as celery_app


def _database_ok() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # report, never raise: this is the health check
        return f"down: {exc.__class__.__name__}"


def _broker_ok() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"down: {exc.__class__.__name__}"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    down = [name for name, state in checks.items() if state != "ok"]
    status = 503 if down else 200
    return JsonResponse({"status": "down" if down else "ok", "down": down, **checks}, status=status)
