"""Server time of the dashboard pages at 10k and at 1M interactions.

Loads synthetic traffic (COPY, `manage.py load_synthetic`): 10,000 interactions into its own
database `bench_pages`, then 1,000,000 into `bench_pages_large` (both created and dropped
here; Redis db 11; BENCH_PAGES_DATABASE renames them). Then it times `/`, the compare page,
`/interactions/` and `/judges/` through Django's test client as a logged-in operator: 20
requests per page and size after a warm-up, median and p95 in milliseconds. The two sizes are
measured in alternating rounds, so a busy machine slows both alike instead of skewing the
ratio. Pages read rollups and keyset pages, so their times should not grow with the row count:
worst_ratio = max over pages of p50(1M) / p50(10k). The target (`target_met`) is
worst_ratio <= 2 and every page's p95 at the large size under 300 ms.

    .venv/bin/python bench/pages.py            # 10k, then 1M
    .venv/bin/python bench/pages.py --quick    # 10k, then 100k

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_PREFIX = os.environ.get("BENCH_PAGES_DATABASE", "bench_pages")
DB_NAMES = {"small": DB_PREFIX, "large": f"{DB_PREFIX}_large"}
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
AGENT = "bench-bot"
LOADED_TABLES = (
    "shadow_interaction",
    "shadow_response",
    "evaluations_score",
    "evaluations_flag",
    "evaluations_scorerollup",
    "evaluations_versionrollup",
)
REQUESTS = 20
WARMUP = 3
MAX_RATIO = 2.0
MAX_P95_MS = 300.0
PAGES = {
    "overview": "/",
    "compare": f"/agents/{AGENT}/compare/",
    "interactions": "/interactions/",
    "judges": "/judges/",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(statement)


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{DB_NAMES['small']}"
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/11"
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")
    import django

    django.setup()


def load(n: int, *, rebuild_indexes: bool) -> float:
    from django.core.management import call_command
    from django.db import connection

    started = time.monotonic()
    call_command(
        "load_synthetic",
        agent=AGENT,
        n=n,
        truncate=True,
        rebuild_indexes=rebuild_indexes,
        stdout=open(os.devnull, "w"),  # noqa: SIM115 - closed with the process
    )
    # A freshly loaded table has no visibility map yet; index-only counts need one.
    with connection.cursor() as cursor:
        for table in LOADED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


def use_database(label: str) -> None:
    """Point the default connection at one of the two benchmark databases."""
    from django.db import connections

    connection = connections["default"]
    connection.close()
    connection.settings_dict["NAME"] = DB_NAMES[label]


def prepare(label: str, n: int):
    """Migrate, add an operator, load n interactions; return a logged-in client."""
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.test import Client

    use_database(label)
    log(f"migrating {DB_NAMES[label]}")
    call_command("migrate", verbosity=0)
    operator = User.objects.create_user(username="bench-operator", password="unused")
    operator.groups.add(Group.objects.get(name="operator"))
    log(f"loading {n:,} interactions")
    seconds = load(n, rebuild_indexes=n > 50_000)
    log(f"  loaded in {seconds:.1f} s")
    client = Client()
    client.force_login(operator)
    return client, round(seconds, 1)


def get(client, path: str) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) for one request."""
    started, cpu_started = time.perf_counter(), time.process_time()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    cpu = (time.process_time() - cpu_started) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed, cpu


def measure(clients: dict) -> dict[str, dict[str, dict[str, float]]]:
    samples: dict[str, dict[str, list[float]]] = {
        label: {page: [] for page in PAGES} for label in clients
    }
    cpu: dict[str, dict[str, list[float]]] = {
        label: {page: [] for page in PAGES} for label in clients
    }
    for round_number in range(WARMUP + REQUESTS):
        for label, client in clients.items():
            use_database(label)
            get(client, "/")  # reconnect outside the timed requests
            for page, path in PAGES.items():
                elapsed, cpu_ms = get(client, path)
                if round_number >= WARMUP:
                    samples[label][page].append(elapsed)
                    cpu[label][page].append(cpu_ms)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label, pages in samples.items():
        out[label] = {}
        for page, values in pages.items():
            values.sort()
            out[label][page] = {
                "p50": round(statistics.median(values), 1),
                "p95": round(values[int(0.95 * (len(values) - 1))], 1),
                # Python time of the request alone: what the page costs on an idle machine,
                # minus the database's share.
                "cpu_p50": round(statistics.median(cpu[label][page]), 1),
            }
            log(f"  {label:5s} {page:13s} p50 {out[label][page]['p50']:7.1f} ms   "
                f"p95 {out[label][page]['p95']:7.1f} ms")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k instead of 1M")
    args = parser.parse_args()
    sizes = {"small": 10_000, "large": 100_000 if args.quick else 1_000_000}

    for name in DB_NAMES.values():
        admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin_sql(f"CREATE DATABASE {name}")
    try:
        setup_django()
        from django.db import connections

        clients, load_seconds = {}, {}
        for label, n in sizes.items():
            clients[label], load_seconds[label] = prepare(label, n)
        log("timing pages, both sizes in alternating rounds")
        results = measure(clients)
        connections.close_all()
    finally:
        for name in DB_NAMES.values():
            admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    large_key = "p50_ms_100k" if args.quick else "p50_ms_1m"
    ratios = {
        page: results["large"][page]["p50"] / max(results["small"][page]["p50"], 0.001)
        for page in PAGES
    }
    worst_ratio = round(max(ratios.values()), 2)
    slowest_p95 = max(results["large"][page]["p95"] for page in PAGES)
    summary = {
        "bench": "pages",
        "p50_ms_10k": {page: results["small"][page]["p50"] for page in PAGES},
        large_key: {page: results["large"][page]["p50"] for page in PAGES},
        "p95_ms_10k": {page: results["small"][page]["p95"] for page in PAGES},
        large_key.replace("p50", "p95"): {page: results["large"][page]["p95"] for page in PAGES},
        "cpu_p50_ms_10k": {page: results["small"][page]["cpu_p50"] for page in PAGES},
        large_key.replace("p50_ms", "cpu_p50_ms"): {
            page: results["large"][page]["cpu_p50"] for page in PAGES
        },
        "worst_ratio": worst_ratio,
        "ratios": {page: round(r, 2) for page, r in ratios.items()},
        "target_met": worst_ratio <= MAX_RATIO and slowest_p95 < MAX_P95_MS,
        "interactions": sizes,
        "load_seconds": load_seconds,
        "requests_per_page": REQUESTS,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
