"""Settings for the Celery worker of the event bus tests: a slow receiver times out in 2 s."""

from config.settings.test import *  # noqa: F403

WEBHOOK_TIMEOUT_SECONDS = 2.0
