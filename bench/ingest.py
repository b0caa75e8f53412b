"""Ingest throughput over HTTP (gunicorn, 2 workers, PostgreSQL) against raw COPY of the same rows.

The server runs as the Procfile starts it (gunicorn, 2 workers of 4 threads). The HTTP side
posts N interactions (two responses each, ~1 KB texts) in batches of 500 from 4 concurrent
clients; request bodies are serialised before the clock starts, because in production that
work happens on the clients' machines, not on the server being measured.

The COPY side loads the same rows with raw COPY into scratch tables shaped like ours
(`LIKE … INCLUDING ALL` plus our foreign keys: same columns, indexes and constraints, written
to the WAL like any durable table), i.e. what the database alone needs to store them;
`ratio` = http ÷ copy.
For reference the same COPY into bare temporary tables (no indexes, no WAL) is reported as
`copy_temp_rows_per_s` and `ratio_vs_temp`.

Prints one JSON object as the last line:
{"bench": "ingest", "n": ..., "http_rows_per_s": ..., "copy_rows_per_s": ..., "ratio": ...}
"""

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = "bench_ingest"
BATCH = 500
CLIENTS = 4
WORDS = [
    "account", "billing", "refund", "shipping", "parcel",
    "invoice", "password", "reset", "delivery", "order",
]  # fmt: skip


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def text(rng: random.Random, size: int = 1000) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def make_items(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        items.append(
            {
                "id": f"bench-{i}",
                "agent": "bench-bot",
                "timestamp": "2026-11-24T10:00:00Z",
                "user": f"u-{rng.randrange(5000)}",
                "input": text(rng, 300),
                "metadata": {"channel": rng.choice(["web", "app"])},
                "responses": [
                    {
                        "version": "v1",
                        "served": True,
                        "output": text(rng),
                        "latency_ms": 800,
                        "tokens_in": 200,
                        "tokens_out": 90,
                        "cost_usd": 0.001,
                    },
                    {
                        "version": "v2",
                        "served": False,
                        "output": text(rng),
                        "latency_ms": 650,
                        "tokens_in": 190,
                        "tokens_out": 80,
                        "cost_usd": 0.0009,
                    },
                ],
            }
        )
    return items


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for_db() -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": f"{PG}/{DB}",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "API_RATE_LIMIT_PER_MINUTE": "100000000",
    }


def manage(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env_for_db(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def prepare_database() -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    manage("migrate", "--noinput", "-v", "0")
    manage(
        "shell",
        "-c",
        "from rollouts.models import Agent; Agent.objects.create(slug='bench-bot', name='Bench')",
    )
    return (
        manage("create_api_key", "--agent", "bench-bot", "--scopes", "ingest")
        .strip()
        .splitlines()[-1]
    )


def run_http(items: list[dict], token: str) -> float:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",  # as in the Procfile
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env_for_db(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
        headers = {"Authorization": f"Bearer {token}"}

        headers["Content-Type"] = "application/json"
        bodies = [json.dumps({"interactions": batch}).encode() for batch in batches]

        # Each client keeps its connection, as the SDK's recorder does.
        local = threading.local()

        def send(body: bytes) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=base, timeout=120, headers=headers)
                clients.append(local.client)
            response = local.client.post("/api/v1/interactions", content=body)
            response.raise_for_status()

        clients: list[httpx.Client] = []

        # Warm up the workers on a small batch that is not counted.
        warm = make_items(10, seed=99)
        for it in warm:
            it["id"] = "warm-" + it["id"]
        send(json.dumps({"interactions": warm}).encode())
        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(send, bodies))
        elapsed = time.perf_counter() - start
        for client in clients:
            client.close()
        return elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_copy(items: list[dict], *, temporary: bool) -> float:
    """Seconds to COPY the rows into scratch tables: shaped like ours, or bare temporary ones."""
    kind, like = (
        ("TEMP", "INCLUDING DEFAULTS INCLUDING IDENTITY") if temporary else ("", "INCLUDING ALL")
    )
    with psycopg.connect(f"{PG}/{DB}") as conn:
        conn.execute("DROP TABLE IF EXISTS scratch_interaction, scratch_response")
        conn.execute(f"CREATE {kind} TABLE scratch_interaction (LIKE shadow_interaction {like})")
        conn.execute(f"CREATE {kind} TABLE scratch_response (LIKE shadow_response {like})")
        if not temporary:  # LIKE copies no foreign keys: give the scratch tables ours
            for table in ("interaction", "response"):
                for (definition,) in conn.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = %s::regclass AND contype = 'f'",
                    [f"shadow_{table}"],
                ):
                    definition = definition.replace(
                        "REFERENCES shadow_interaction(", "REFERENCES scratch_interaction("
                    )
                    conn.execute(f"ALTER TABLE scratch_{table} ADD {definition}")
        conn.commit()
        agent_id, v1, v2 = conn.execute(
            "SELECT a.id, min(v.id), max(v.id) FROM rollouts_agent a "
            "JOIN rollouts_agentversion v ON v.agent_id = a.id"
            " WHERE a.slug = 'bench-bot' GROUP BY a.id"
        ).fetchone()
        start = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(
                "COPY scratch_interaction (id, agent_id, external_id, user_ref, conversation,"
                " input, metadata, opt_out, slices, created_at, received_at) FROM STDIN"
            ) as copy:
                for i, it in enumerate(items):
                    copy.write_row(
                        (
                            i,
                            agent_id,
                            it["id"],
                            "x" * 64,
                            "",
                            it["input"],
                            json.dumps(it["metadata"]),
                            False,
                            "[]",
                            "2026-11-24T10:00:00Z",
                            "2026-11-24T10:00:00Z",
                        )
                    )
            with cur.copy(
                "COPY scratch_response (interaction_id, agent_id, version_id, served, output,"
                " latency_ms, tokens_in, tokens_out, cost_usd, error, created_at, received_at)"
                " FROM STDIN"
            ) as copy:
                for i, it in enumerate(items):
                    for version, r in zip((v1, v2), it["responses"], strict=True):
                        copy.write_row(
                            (
                                i,
                                agent_id,
                                version,
                                r["served"],
                                r["output"],
                                r["latency_ms"],
                                r["tokens_in"],
                                r["tokens_out"],
                                r["cost_usd"],
                                "",
                                "2026-11-24T10:00:00Z",
                                "2026-11-24T10:00:00Z",
                            )
                        )
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE scratch_interaction, scratch_response")
        conn.commit()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="n = 5,000")
    args = parser.parse_args()
    n = 5_000 if args.quick else args.n
    items = make_items(n)
    rows = n * 3  # one interaction and two responses each
    log(f"preparing database {DB} …")
    token = prepare_database()
    log(f"posting {n} interactions in batches of {BATCH} from {CLIENTS} clients …")
    http_s = run_http(items, token)
    log(f"http: {http_s:.2f}s; copying the same rows …")
    copy_s = run_copy(items, temporary=False)
    log(f"copy into tables shaped like ours: {copy_s:.2f}s")
    temp_s = run_copy(items, temporary=True)
    log(f"copy into bare temporary tables: {temp_s:.2f}s")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    http_rate, copy_rate, temp_rate = rows / http_s, rows / copy_s, rows / temp_s
    print(
        json.dumps(
            {
                "bench": "ingest",
                "n": n,
                "http_rows_per_s": round(http_rate),
                "copy_rows_per_s": round(copy_rate),
                "ratio": round(http_rate / copy_rate, 3),
                "copy_temp_rows_per_s": round(temp_rate),
                "ratio_vs_temp": round(http_rate / temp_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
