"""Event bus benchmark: webhook relay throughput, and what the outbox costs ingestion.

1. Relay: one webhook subscription of one agent points at a local receiver; a real Celery
   worker (events queue, 2 processes) relays. After a warm-up, N events are published (in
   transactions of 250) while the webhook is disabled; relay_per_s = N / (re-enable → last
   request received). Then N more are published while the worker relays them
   (relay_live_per_s, end to end). The receiver checks that every event arrived in order.
2. Ingest overhead: `shadow.services.interactions_ingest` on batches of 500 interactions (two
   responses each), alternating rounds with the outbox active and with `event_publish`
   replaced by a no-op, same process, same database. ingest_overhead_ratio = throughput with
   the outbox / throughput without, as the median over rounds of the paired ratio
   (target >= 0.9). The worker is stopped first, so the ratio measures the write path, not
   relay work competing for the same cores.

Runs against its own PostgreSQL database `bench_events` (created, migrated, dropped) and
Redis db 10. Usage: .venv/bin/python bench/events.py [--quick] [--events N] [--rounds R]
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_events"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
BATCH = 500
PUBLISH_TRANSACTION = 250
WARMUP_EVENTS = 50

os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
os.environ["DATABASE_URL"] = f"{PG_URL}/{DB_NAME}"
os.environ["REDIS_URL"] = REDIS_URL
os.environ["CELERY_BROKER_URL"] = REDIS_URL


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def database_recreate(*, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {DB_NAME}")


class Worker:
    def __init__(self) -> None:
        self.log_path = ROOT / "var" / f"bench-events-worker-{os.getpid()}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self.log_path.unlink(missing_ok=True)
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "events",
                "-c", "2", "--pool", "prefork", "--without-heartbeat", "--without-mingle",
                "--without-gossip", "-n", f"bench-events-{os.getpid()}@%h", "--loglevel",
                "INFO",
            ],
            cwd=ROOT, env=dict(os.environ), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while b"ready." not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not start; see {self.log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _wait_for(receiver, total: int) -> None:
    deadline = time.monotonic() + max(120, total / 5)
    shown = -1
    while receiver.count() < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {receiver.count()}/{total} events arrived")
        if receiver.count() // 1000 != shown // 1000:
            shown = receiver.count()
            log(f"  received {shown}/{total}")
        time.sleep(0.02)


def relay_bench(*, events: int) -> dict:
    from django.db import transaction

    from rollouts.events import event_publish
    from rollouts.models import Agent
    from rollouts.webhooks import subscription_create, subscription_disable, subscription_enable
    from tests.fakes.webhook_receiver import WebhookReceiver

    agent = Agent.objects.create(slug="bench-relay", name="Bench relay")

    def publish(count: int, offset: int) -> None:
        for start in range(0, count, PUBLISH_TRANSACTION):
            with transaction.atomic():
                for n in range(start, min(count, start + PUBLISH_TRANSACTION)):
                    event_publish(type="score.recorded", agent=agent, payload={"n": offset + n})

    with WebhookReceiver.start() as receiver:
        subscription, _ = subscription_create(
            agent=agent, url=receiver.url + "/hook", event_types=[]
        )
        log("starting a Celery worker (events queue, 2 processes)…")
        worker = Worker()
        try:
            publish(WARMUP_EVENTS, 0)
            _wait_for(receiver, WARMUP_EVENTS)
            # Backlog: published while the webhook is off, then relayed alone.
            subscription_disable(subscription=subscription, reason="benchmark backlog")
            started = time.monotonic()
            publish(events, WARMUP_EVENTS)
            published = time.monotonic() - started
            log(f"published {events} events in {published:.1f} s; relaying the backlog…")
            enabled = time.monotonic()
            subscription_enable(subscription=subscription)
            _wait_for(receiver, WARMUP_EVENTS + events)
            relay_s = receiver.requests()[WARMUP_EVENTS + events - 1].at - enabled
            # Live: the worker relays while the same number of events is being published.
            started = time.monotonic()
            publish(events, WARMUP_EVENTS + events)
            _wait_for(receiver, WARMUP_EVENTS + 2 * events)
            live_s = receiver.requests()[WARMUP_EVENTS + 2 * events - 1].at - started
            sequences = [json.loads(r.body)["sequence"] for r in receiver.requests()]
        finally:
            worker.stop()
    in_order = sequences == list(range(1, WARMUP_EVENTS + 2 * events + 1))
    log(
        f"relay: backlog of {events} in {relay_s:.1f} s = {events / relay_s:.0f}/s; "
        f"publish while relaying: {events / live_s:.0f}/s end to end; in order: {in_order}"
    )
    return {
        "relay_per_s": events / relay_s,
        "relay_live_per_s": events / live_s,
        "relay_in_order": in_order,
        "publish_per_s": events / published,
    }


def _batch(agent_slug: str, prefix: str) -> list:
    from shadow.schemas import InteractionIn, ResponseIn

    return [
        InteractionIn(
            id=f"{prefix}-{i}",
            agent=agent_slug,
            user=f"user-{i % 97}",
            input=f"How do I reset my password? ({i})",
            metadata={"channel": "web"},
            responses=[
                ResponseIn(version="v1", served=True, output="Use the reset link.", latency_ms=800),
                ResponseIn(
                    version="v2", served=False, output="Click Forgot password.", latency_ms=640
                ),
            ],
        )
        for i in range(BATCH)
    ]


def ingest_bench(*, rounds: int) -> dict:
    from django.db import transaction

    import rollouts.events as events_module
    from rollouts.models import Agent
    from shadow.services import interactions_ingest

    agent = Agent.objects.create(slug="bench-ingest", name="Bench ingest")
    real_publish = events_module.event_publish

    def noop_publish(**kwargs):
        return None

    timings: dict[str, list[float]] = {"with": [], "without": []}
    interactions_ingest(agent=agent, items=_batch(agent.slug, "warmup"))
    for r in range(rounds):
        # Alternate which mode goes first so drift (cache, autovacuum) hits both alike.
        order = ("with", "without") if r % 2 == 0 else ("without", "with")
        for mode in order:
            items = _batch(agent.slug, f"{mode}-{r}")
            events_module.event_publish = real_publish if mode == "with" else noop_publish
            try:
                started = time.perf_counter()
                interactions_ingest(agent=agent, items=items)
                timings[mode].append(time.perf_counter() - started)
            finally:
                events_module.event_publish = real_publish
        if (r + 1) % 5 == 0:
            log(f"  ingest round {r + 1}/{rounds}")
    # The outbox's own cost, measured directly: one event per transaction, as ingest does.
    write_ms = []
    for _ in range(200):
        with transaction.atomic():
            started = time.perf_counter()
            real_publish(type="interaction.logged", agent=agent, payload={"count": 500})
            write_ms.append((time.perf_counter() - started) * 1000)
    outbox_write_ms = statistics.median(write_ms)
    # Each round's two batches ran back to back under the same machine load: the median of the
    # per-round ratios cancels most of the drift that plain medians per mode would keep.
    with_s = statistics.median(timings["with"])
    without_s = statistics.median(timings["without"])
    ratio = statistics.median(
        without / with_ for with_, without in zip(timings["with"], timings["without"], strict=True)
    )
    log(
        f"ingest: {BATCH / with_s:.0f} interactions/s with the outbox, "
        f"{BATCH / without_s:.0f}/s without; ratio {ratio:.3f} (target >= 0.9); "
        f"one outbox write {outbox_write_ms:.2f} ms = {outbox_write_ms / (with_s * 1000):.1%} "
        "of a batch"
    )
    return {
        "outbox_write_ms": outbox_write_ms,
        "ingest_per_s_with_outbox": BATCH / with_s,
        "ingest_per_s_without_outbox": BATCH / without_s,
        "ingest_overhead_ratio": ratio,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 events, 6 ingest rounds")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    events = args.events or (500 if args.quick else 5000)
    rounds = args.rounds or (6 if args.quick else 20)

    import redis

    log(f"creating database {DB_NAME} and flushing {REDIS_URL}…")
    database_recreate()
    redis.Redis.from_url(REDIS_URL).flushdb()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        relay = relay_bench(events=events)
        ingest = ingest_bench(rounds=rounds)
    finally:
        connections.close_all()
        database_recreate(drop_only=True)
        redis.Redis.from_url(REDIS_URL).flushdb()
    print(
        json.dumps(
            {
                "bench": "events",
                "relay_per_s": round(relay["relay_per_s"], 1),
                "ingest_overhead_ratio": round(ingest["ingest_overhead_ratio"], 3),
                "events": events,
                "relay_live_per_s": round(relay["relay_live_per_s"], 1),
                "relay_in_order": relay["relay_in_order"],
                "publish_per_s": round(relay["publish_per_s"], 1),
                "ingest_batch": BATCH,
                "ingest_rounds": rounds,
                "ingest_per_s_with_outbox": round(ingest["ingest_per_s_with_outbox"], 1),
                "ingest_per_s_without_outbox": round(ingest["ingest_per_s_without_outbox"], 1),
                "outbox_write_ms": round(ingest["outbox_write_ms"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
