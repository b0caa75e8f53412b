"""Trigram indexes for the interactions browser's text search (PostgreSQL only).

The search is `icontains`, which Django writes as UPPER(column) LIKE UPPER('%text%'); a GIN
index over UPPER(column) with pg_trgm's operator class answers it for words of three or more
letters without reading every row. SQLite (`make run`) has no pg_trgm: there this migration
does nothing and the search scans, which is fine at its sizes.
"""

from django.db import migrations

INDEXES = (
    ("interaction_text_search", "shadow_interaction", "input"),
    ("response_text_search", "shadow_response", "output"),
)


def trigram_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        # CONCURRENTLY: a large table keeps taking writes while its index builds.
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
            f"ON {table} USING gin (UPPER({column}) gin_trgm_ops)"
        )
        # The planner knows nothing about an expression until ANALYZE samples it; without
        # that it guesses every search matches and keeps walking the recent-first index.
        schema_editor.execute(f"ANALYZE {table}")


def trigram_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("shadow", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(trigram_indexes_create, trigram_indexes_drop),
    ]
