"""Fixtures for the SDK: a demo agent with a rollout, its key, and real servers to talk to.

`live_server` (pytest-django) serves in a thread of the test process. For "server down" and
"server restarts" the tests need a server they can kill: `server_process` runs gunicorn
against the test database on a port of its own.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import ROOT, _test_database_url
from tests.factories import AgentFactory, RolloutFactory, api_key_for

AGENT = "support-bot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """gunicorn on 127.0.0.1:<port> against the test database; stop() and start() at will."""

    def __init__(self, *, port: int, env: dict | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "var" / f"test-sdk-server-{os.getpid()}.log"

    def start(self, *, timeout: float = 120) -> "ServerProcess":
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _test_database_url(),
            **self.extra_env,
        }
        self.log_path.parent.mkdir(exist_ok=True)
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log_path}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server not up after {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture
def server_process(transactional_db):
    """A server on a fresh port that is NOT started yet: the test decides when it is up."""
    server = ServerProcess(port=free_port())
    yield server
    server.stop()


@pytest.fixture
def agent(transactional_db):
    return AgentFactory(slug=AGENT)


@pytest.fixture
def rollout(agent):
    return RolloutFactory(agent=agent, shadow_percent=100, candidate_percent=0)


@pytest.fixture
def token(agent):
    return api_key_for(agent)


@pytest.fixture
def dead_url():
    """An address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def backup_path(tmp_path):
    return tmp_path / "routing-backup.json"


@pytest.fixture
def live_url(live_server):
    """live_server's address, warmed up: its first request imports the whole URL tree."""
    url = live_server.url.replace("localhost", "127.0.0.1")
    httpx.get(f"{url}/healthz", timeout=120)
    return url
