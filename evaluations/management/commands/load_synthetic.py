"""Bulk-load synthetic traffic with scores, flags and rollups, for benchmarks and screenshots.

Rows go in with PostgreSQL COPY (psycopg3 `cursor.copy`); see evaluations/synthetic.py for
what is generated and how the rollups are summed.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from evaluations.models import Flag, Judge, Review, Score, ScoreRollup, VersionRollup
from evaluations.synthetic import SyntheticLoader
from rollouts.models import Agent, AgentVersion, Rollout
from shadow.models import Interaction, Response

CHUNK = 50_000
BULK_TABLES = (Interaction, Response, Score, Flag)


class Command(BaseCommand):
    help = (
        "Bulk-load N synthetic interactions (both versions answered, scored by a pointwise "
        "rubric and a pairwise judge) with flags and rollups, via COPY. PostgreSQL only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agent", default="support-bot")
        parser.add_argument("--n", type=int, default=10_000)
        parser.add_argument("--days", type=float, default=7.0, help="Spread over the last D days")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--rebuild-indexes",
            action="store_true",
            help="Drop secondary indexes during the load and build them once at the end "
            "(much faster for large N; the tables are unindexed meanwhile)",
        )
        parser.add_argument(
            "--truncate",
            action="store_true",
            help="Empty the traffic, score, flag and rollup tables first (dedicated databases)",
        )

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("load_synthetic needs PostgreSQL (it uses COPY)")
        started = time.monotonic()
        if options["truncate"]:
            _truncate()
        loader = _loader_for(options["agent"], days=options["days"], seed=options["seed"])
        dropped = _indexes_drop() if options["rebuild_indexes"] else []
        done = 0
        try:
            while done < options["n"]:
                size = min(CHUNK, options["n"] - done)
                loader.load(size)
                done += size
                elapsed = time.monotonic() - started
                self.stderr.write(f"  {done:,} interactions copied ({elapsed:.1f} s)")
        finally:
            if dropped:
                _indexes_restore(dropped)
                self.stderr.write(f"  indexes rebuilt ({time.monotonic() - started:.1f} s)")
        loader.write_rollups()
        with connection.cursor() as cursor:
            for model in (*BULK_TABLES, ScoreRollup, VersionRollup):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
        self.stderr.write(f"Loaded {done:,} interactions in {time.monotonic() - started:.1f} s")
        self.stdout.write(str(done))


def _truncate() -> None:
    tables = [m._meta.db_table for m in (Review, *BULK_TABLES, ScoreRollup, VersionRollup)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def _loader_for(slug: str, *, days: float, seed: int) -> SyntheticLoader:
    """The agent with v1 in production and v2 as candidate, plus a rubric and a pairwise judge."""
    with transaction.atomic():
        agent, _ = Agent.objects.get_or_create(
            slug=slug, defaults={"name": slug.replace("-", " ").title()}
        )
        v1, _ = AgentVersion.objects.get_or_create(agent=agent, name="v1")
        v2, _ = AgentVersion.objects.get_or_create(agent=agent, name="v2")
        rollout, _ = Rollout.objects.get_or_create(agent=agent)
        if not (rollout.production_id and rollout.candidate_id):
            rollout.production, rollout.candidate = v1, v2
            rollout.state, rollout.shadow_percent = Rollout.State.SHADOWING, 100
            rollout.save()
        rubric, _ = Judge.objects.get_or_create(
            agent=agent, name="rubric", defaults={"kind": "llm_rubric"}
        )
        pairwise, _ = Judge.objects.get_or_create(
            agent=agent, name="pairwise", defaults={"kind": "llm_pairwise"}
        )
        # The loaded scores are theirs, and the gate only counts enabled judges.
        Judge.objects.filter(pk__in=(rubric.pk, pairwise.pk)).update(enabled=True)
    return SyntheticLoader(
        agent=agent, rollout=rollout, rubric=rubric, pairwise=pairwise, days=days, seed=seed
    )


def _indexes_drop() -> list[str]:
    """Drop every index and unique constraint but the primary keys; return how to rebuild."""
    tables = [m._meta.db_table for m in BULK_TABLES]
    restore: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)",
            [tables],
        )
        for table, name, definition in cursor.fetchall():
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary",
            [tables],
        )
        for name, definition in cursor.fetchall():
            restore.append(definition)
            cursor.execute(f"DROP INDEX {name}")
    return restore


def _indexes_restore(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for statement in statements:
            cursor.execute(statement)
