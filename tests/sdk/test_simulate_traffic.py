import io
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count

from shadow.models import Feedback, Interaction
from tests.conftest import wait_until


def simulate(url: str, token: str, backup: Path, *, duration: float = 4, rate: float = 30) -> str:
    out = io.StringIO()
    call_command(
        "simulate_traffic",
        "--backup-path",
        str(backup),
        "--base-url",
        url,
        "--api-key",
        token,
        "--duration",
        str(duration),
        "--rate",
        str(rate),
        "--time-scale",
        "0.02",
        "--seed",
        "1",
        "--log-every",
        "25",
        stdout=out,
    )
    return out.getvalue()


@pytest.fixture
def simulated(live_url, rollout, token, backup_path):
    return simulate(live_url, token, backup_path)


def test_simulated_traffic_arrives_as_production_and_shadow_pairs(simulated):
    pairs = Interaction.objects.annotate(n=Count("responses")).filter(n=2).count()
    assert pairs > 0.8 * Interaction.objects.count() > 40


def test_simulated_traffic_leaves_user_feedback(simulated):
    assert Feedback.objects.exists()


def test_simulated_traffic_logs_progress(simulated):
    assert "traffic: 25 interactions" in simulated


def test_simulated_traffic_is_processed_by_the_worker(
    live_url, rollout, token, backup_path, celery_worker
):
    simulate(live_url, token, backup_path, duration=3)
    wait_until(
        lambda: not Interaction.objects.filter(processed_at__isnull=True).exists(),
        timeout=60,
        message="the worker did not process the simulated interactions",
    )


def test_simulate_traffic_waits_for_a_server_that_starts_late(
    server_process, rollout, token, backup_path
):
    output: list[str] = []
    runner = threading.Thread(
        target=lambda: output.append(
            simulate(server_process.url, token, backup_path, duration=3, rate=10)
        )
    )
    runner.start()
    server_process.start()
    runner.join(timeout=120)
    assert ("waiting for Shadowstage" in output[0], Interaction.objects.count() > 5) == (True, True)
