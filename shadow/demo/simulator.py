"""Drive the demo agents through the SDK against a running Shadowstage, like a real app would.

Every request goes the way the SDK README shows: `Router.choose`, `run_with_shadow`, the
`Recorder` in the background, and now and then the user's thumbs-up or -down. The server may
be down, restarting or rate-capping; the run keeps going and the SDK catches up.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from shadowstage_client import Answer, Recorder, Router, run_with_shadow

from shadow.demo.agents import SupportAgent, demo_agents
from shadow.demo.traffic import Request, TrafficGenerator, feedback_for


@dataclass(frozen=True, slots=True)
class TrafficSettings:
    base_url: str
    api_key: str
    agent: str = "support-bot"
    rate: float = 5.0
    users: int = 500
    seed: int | None = None
    log_every: int = 50
    time_scale: float = 1.0
    concurrency: int = 16
    shadow_timeout: float = 10.0
    refresh_seconds: float = 5.0
    backup_path: Path | None = None


def server_wait(*, base_url: str, stop: threading.Event, write: Callable[[str], None]) -> bool:
    """Block until the server answers HTTP at all (even 503); False when told to stop first."""
    url = base_url.rstrip("/") + "/healthz"
    told = False
    while not stop.is_set():
        try:
            httpx.get(url, timeout=3.0)
            return True
        except httpx.HTTPError:
            if not told:
                write(f"traffic: waiting for Shadowstage at {base_url} ...")
                told = True
        stop.wait(1.0)
    return False


class TrafficRun:
    """Poisson arrivals at `rate` per second, each handled on a worker thread."""

    def __init__(
        self, *, settings: TrafficSettings, stop: threading.Event, write: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.write = write
        self.agents = demo_agents(time_scale=settings.time_scale)
        seed = settings.seed if settings.seed is not None else int(time.time())
        self.generator = TrafficGenerator(seed=seed, users=settings.users)
        self.arrivals = random.Random(seed + 1)
        self.router = Router(
            base_url=settings.base_url,
            api_key=settings.api_key,
            agent=settings.agent,
            refresh_seconds=settings.refresh_seconds,
            backup_path=settings.backup_path,
            fallback_version="v1",
        )
        self.recorder = Recorder(
            base_url=settings.base_url, api_key=settings.api_key, agent=settings.agent
        )
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._unknown_versions: set[str] = set()

    def run(self, *, duration: float | None = None) -> Counter[str]:
        s = self.settings
        self.write(
            f"traffic: {s.rate:g} requests/s for agent {s.agent} at {s.base_url} "
            f"(routing revision {self.router.revision}, from {self.router.source})"
        )
        started = time.monotonic()
        next_at = started
        with ThreadPoolExecutor(s.concurrency, thread_name_prefix="demo-user") as pool:
            while not self.stop.is_set():
                now = time.monotonic()
                if duration is not None and now - started >= duration:
                    break
                if now < next_at:
                    self.stop.wait(min(next_at - now, 0.5))
                    continue
                next_at = max(next_at + self.arrivals.expovariate(s.rate), now - 1.0)
                with self._lock:
                    if self._in_flight >= 2 * s.concurrency:
                        self.counts["skipped"] += 1  # the app is saturated; do not pile up
                        continue
                    self._in_flight += 1
                pool.submit(self._serve, self.generator.next())
        self.recorder.flush(timeout=15.0)
        self.recorder.close(timeout=5.0)
        self.router.close()
        self._log(final=True)
        return self.counts

    def _serve(self, request: Request) -> None:
        try:
            self._serve_one(request)
        except Exception as exc:  # one failed request never ends the demo
            with self._lock:
                self.counts["errors"] += 1
            self.write(f"traffic: request failed: {exc.__class__.__name__}: {exc}")
        finally:
            with self._lock:
                self._in_flight -= 1

    def _serve_one(self, request: Request) -> None:
        assignment = self.router.choose(request.user)
        interaction_id = f"demo-{uuid.uuid4().hex}"
        production = self._agent(assignment.production)
        candidate = self._agent(assignment.candidate) if assignment.candidate else None
        answer: Answer = run_with_shadow(
            production=production,
            shadow=candidate,
            input=request.text,
            user=request.user,
            router=self.router,
            recorder=self.recorder,
            assignment=assignment,
            opt_out=request.opt_out,
            interaction_id=interaction_id,
            conversation=f"c-{request.user}-{interaction_id[5:13]}",
            metadata=request.metadata,
            shadow_timeout=self.settings.shadow_timeout,
        )
        rng = random.Random(zlib.crc32(interaction_id.encode()))
        score = feedback_for(request=request, answer=answer.output, rng=rng)
        if score is not None:
            self.recorder.feedback(interaction_id=interaction_id, score=score)
        with self._lock:
            self.counts["interactions"] += 1
            self.counts[f"served:{assignment.version}"] += 1
            self.counts["shadowed"] += int(assignment.shadow and not request.opt_out)
            self.counts[f"kind:{request.kind}"] += 1
            if score is not None:
                self.counts["thumbs_up" if score > 0 else "thumbs_down"] += 1
            due = self.counts["interactions"] % self.settings.log_every == 0
        if due:
            self._log()

    def _agent(self, version: str) -> SupportAgent:
        agent = self.agents.get(version)
        if agent is not None:
            return agent
        if version not in self._unknown_versions:
            self._unknown_versions.add(version)
            self.write(f"traffic: no demo code for version {version!r}; it answers like v2")
        return self.agents["v2"]

    def _log(self, *, final: bool = False) -> None:
        c = self.counts
        st = self.recorder.stats()
        served = " ".join(
            f"{k.split(':', 1)[1]}={v}" for k, v in sorted(c.items()) if k.startswith("served:")
        )
        self.write(
            f"traffic{' done' if final else ''}: {c['interactions']} interactions "
            f"(served {served or '-'}, shadowed {c['shadowed']}), "
            f"feedback +{c['thumbs_up']}/-{c['thumbs_down']} | "
            f"sent {st.sent} queued {st.queued + st.in_flight} dropped {st.dropped} "
            f"rejected {st.rejected} | routing r{self.router.revision} ({self.router.source})"
            + (f" | retrying: {st.last_error}" if st.last_error and st.in_flight else "")
        )
