"""Suite-wide fixtures: real PostgreSQL (pytest-django), real Redis, real Celery workers."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
ALL_QUEUES = "ingest,judges,events,datasets,default"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(scope="session", autouse=True)
def _clean_redis():
    """The suite owns its Redis database: start from nothing."""
    _redis().flushdb()
    yield


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup, django_db_blocker):
    """Sessions left by server threads would keep the test database from being dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        connection.close()


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


_started_workers: list["CeleryWorker"] = []


@pytest.fixture(scope="session", autouse=True)
def _stop_leftover_workers():
    """Whatever happened in a test, no worker outlives the session."""
    yield
    for worker in _started_workers:
        worker.stop()


class CeleryWorker:
    """A real `celery worker` process against the test database and Redis broker."""

    def __init__(self, *, concurrency: int = 2, queues: str = ALL_QUEUES, env: dict | None = None):
        self.concurrency = concurrency
        self.queues = queues
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        database = settings.DATABASES["default"]["NAME"]
        self.log_path = ROOT / "var" / f"test-worker-{database}-{os.getpid()}.log"

    def start(self) -> "CeleryWorker":
        self.log_path.parent.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _test_database_url(),
            **self.extra_env,
        }
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.log_offset = self.log.tell()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                self.queues,
                "-c",
                str(self.concurrency),
                "--pool",
                "prefork",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _started_workers.append(self)
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited; see {self.log_path}")
            with open(self.log_path, "rb") as log:
                log.seek(self.log_offset)
                started = b"ready." in log.read()
            if started:
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after {timeout}s; see {self.log_path}")

    def child_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


def purge_queues() -> None:
    from config.celery_app import app

    with app.connection_for_write() as conn:
        for queue in ALL_QUEUES.split(","):
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def celery_worker(transactional_db, django_db_blocker):
    """A fresh worker per test; tests using it see only committed data (transactional_db)."""
    purge_queues()
    worker = CeleryWorker().start()
    try:
        yield worker
    finally:
        worker.stop()
        purge_queues()


@pytest.fixture
def celery_worker_factory(transactional_db):
    workers: list[CeleryWorker] = []

    def make(**kwargs) -> CeleryWorker:
        worker = CeleryWorker(**kwargs).start()
        workers.append(worker)
        return worker

    purge_queues()
    try:
        yield make
    finally:
        for worker in workers:
            worker.stop()
        purge_queues()


def wait_until(predicate, *, timeout: float = 60, interval: float = 0.2, message: str = ""):
    """Poll a condition that a real background process makes true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout}s")
