"""Writes for the shadow app: ingestion, feedback, erasure, API keys."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from rollouts.models import Agent, AgentVersion, Rollout, RolloutEvent
from shadow.keys import IssuedKey, key_issue, secret_hash, user_ref
from shadow.models import ApiKey, Feedback, Interaction, Response
from shadow.schemas import InteractionIn

logger = logging.getLogger(__name__)


class IngestConflict(Exception):
    """A batch item contradicts what is already stored; the whole batch is refused."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__("batch conflicts with stored data")
        self.errors = errors


@dataclass
class IngestOutcome:
    accepted: int = 0
    duplicates: int = 0
    interaction_ids: list[int] = field(default_factory=list)


INTERACTION_COLUMNS = [
    "agent_id",
    "external_id",
    "user_ref",
    "conversation",
    "input",
    "metadata",
    "opt_out",
    "slices",
    "created_at",
    "received_at",
]
RESPONSE_COLUMNS = [
    "interaction_id",
    "agent_id",
    "version_id",
    "served",
    "output",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "error",
    "created_at",
    "received_at",
]


def _copy_rows(*, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Rows known not to conflict: one COPY on PostgreSQL (a plain INSERT elsewhere)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        _insert_returning(table=table, columns=columns, rows=rows)
        return
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _interactions_copy_new(rows: list[tuple]) -> dict[str, int] | None:
    """The common case, a batch of interactions never seen before: ids drawn from the
    sequence and the rows COPYed straight in. Returns external id → id, or None when the
    fast path does not apply (not PostgreSQL) or any id is already stored (a retry, or a
    concurrent batch with the same ids, which waits for that batch and then lands here);
    the caller then takes the conflict-aware path, and nothing of this attempt remains.
    """
    if connection.vendor != "postgresql" or not rows:
        return None
    table = Interaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        ids = [r[0] for r in cursor.fetchall()]
    try:
        with transaction.atomic():
            _copy_rows(
                table=table,
                columns=["id", *INTERACTION_COLUMNS],
                rows=[(iid, *row) for iid, row in zip(ids, rows, strict=True)],
            )
    except psycopg.errors.UniqueViolation:
        return None
    return {row[1]: iid for iid, row in zip(ids, rows, strict=True)}


def _insert_returning(*, table: str, columns: list[str], rows: list[tuple]) -> list:
    """Set-based INSERT … ON CONFLICT DO NOTHING RETURNING id.

    On PostgreSQL the rows are COPYed into a per-connection temporary staging table (no
    indexes, no constraints, emptied at commit) and moved with one INSERT … SELECT, so a
    batch costs one COPY and one statement whatever its size. Values never enter the SQL
    text; only our own table and column names are formatted in.
    """
    if not rows:
        return []
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            staging = f"ingest_staging_{table}"
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "  # noqa: S608
                f"SELECT {names} FROM {table} WITH NO DATA"
            )
            _copy_rows(table=staging, columns=columns, rows=rows)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "  # noqa: S608
                "ON CONFLICT DO NOTHING RETURNING id"
            )
            returned = [r[0] for r in cursor.fetchall()]
            # Emptied now too, not only at commit: a second batch in the same transaction
            # must not see this one's rows.
            cursor.execute(f"DELETE FROM {staging}")  # noqa: S608
            return returned
        returned = []
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
        chunk = max(1, 900 // len(columns))  # SQLite caps the number of parameters
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            sql = (
                f"INSERT INTO {table} ({names}) VALUES "  # noqa: S608
                + ", ".join([placeholder] * len(part))
                + " ON CONFLICT DO NOTHING RETURNING id"
            )
            cursor.execute(sql, [value for row in part for value in row])
            returned.extend(r[0] for r in cursor.fetchall())
        return returned


def versions_ensure(*, agent: Agent, names: set[str]) -> dict[str, AgentVersion]:
    """Versions are registered the first time they appear in ingested data."""
    existing = {v.name: v for v in AgentVersion.objects.filter(agent=agent, name__in=names)}
    missing = names - existing.keys()
    if missing:
        AgentVersion.objects.bulk_create(
            [AgentVersion(agent=agent, name=n) for n in sorted(missing)], ignore_conflicts=True
        )
        existing = {v.name: v for v in AgentVersion.objects.filter(agent=agent, name__in=names)}
    return existing


def _rollout_adopt_versions(*, agent: Agent, served: set[str], shadow: set[str], versions) -> None:
    """An agent seen for the first time gets its served version as production."""
    rollout, _ = Rollout.objects.get_or_create(agent=agent)
    before = {"production": rollout.production_id, "candidate": rollout.candidate_id}
    changed = []
    if rollout.production_id is None and served:
        rollout.production = versions[sorted(served)[0]]
        changed.append("production")
    if rollout.candidate_id is None and rollout.production_id:
        others = sorted(n for n in shadow if versions[n].id != rollout.production_id)
        if others:
            rollout.candidate = versions[others[0]]
            changed.append("candidate")
    if changed:
        # Routing clients cache by revision, so adopting versions is a visible change too.
        rollout.revision += 1
        rollout.save(update_fields=[*changed, "revision", "updated_at"])
        RolloutEvent.objects.create(
            rollout=rollout,
            actor_name="system",
            action="adopt_versions",
            from_state=before,
            to_state={"production": rollout.production_id, "candidate": rollout.candidate_id},
            reason="versions first seen in ingested data",
        )


def interactions_ingest(*, agent: Agent, items: list[InteractionIn]) -> IngestOutcome:
    """Store a batch set-based, in one transaction: all of it or nothing."""
    now = timezone.now()
    outcome = IngestOutcome()
    with transaction.atomic():
        names = {r.version for item in items for r in item.responses}
        versions = versions_ensure(agent=agent, names=names)

        external_ids = [item.id for item in items]
        seen: set[str] = set()
        rows = []
        for item in items:
            if item.id in seen:
                continue
            seen.add(item.id)
            opt_out = item.opt_out
            rows.append(
                (
                    agent.id,
                    item.id,
                    "" if opt_out or not item.user else user_ref(item.user),
                    "" if opt_out else (item.conversation or ""),
                    "" if opt_out else (item.input or ""),
                    json.dumps({} if opt_out else item.metadata),
                    opt_out,
                    "[]",
                    item.timestamp or now,
                    now,
                )
            )
        id_by_external = _interactions_copy_new(rows)
        if id_by_external is not None:  # all new: their ids are known, nothing to look up
            new_ids = set(id_by_external.values())
            opt_out_by_id = {id_by_external[row[1]]: row[6] for row in rows}
        else:
            new_ids = set(
                _insert_returning(
                    table=Interaction._meta.db_table, columns=INTERACTION_COLUMNS, rows=rows
                )
            )
            id_by_external = {}
            opt_out_by_id = {}
            for iid, external_id, opt_out in Interaction.objects.filter(
                agent=agent, external_id__in=external_ids
            ).values_list("id", "external_id", "opt_out"):
                id_by_external[external_id] = iid
                opt_out_by_id[iid] = opt_out

        # Only interactions that existed before this batch can already hold responses.
        known = [iid for iid in id_by_external.values() if iid not in new_ids]
        stored = {
            (iid, vid): served
            for iid, vid, served in Response.objects.filter(interaction_id__in=known).values_list(
                "interaction_id", "version_id", "served"
            )
        }
        served_by_interaction = {iid: vid for (iid, vid), served in stored.items() if served}
        errors = []
        response_rows = []
        gained: set[int] = set()
        for index, item in enumerate(items):
            iid = id_by_external[item.id]
            for r_index, resp in enumerate(item.responses):
                version = versions[resp.version]
                if (iid, version.id) in stored:
                    continue
                if resp.served:
                    holder = served_by_interaction.get(iid)
                    if holder is not None and holder != version.id:
                        errors.append(
                            {
                                "index": index,
                                "field": f"responses.{r_index}.served",
                                "message": "this interaction already has a served response "
                                "from another version",
                            }
                        )
                        continue
                    served_by_interaction[iid] = version.id
                stored[(iid, version.id)] = resp.served
                gained.add(iid)
                response_rows.append(
                    (
                        iid,
                        agent.id,
                        version.id,
                        resp.served,
                        "" if opt_out_by_id[iid] else (resp.output or ""),
                        resp.latency_ms,
                        resp.tokens_in,
                        resp.tokens_out,
                        None if resp.cost_usd is None else Decimal(str(resp.cost_usd)),
                        resp.error or "",
                        item.timestamp or now,
                        now,
                    )
                )
        if errors:
            raise IngestConflict(errors)
        # Answers to interactions created by this very batch cannot collide with anything
        # (no other transaction can see those ids yet, and the batch was checked above), so
        # they go straight in; answers to older interactions may race another batch.
        fresh = [row for row in response_rows if row[0] in new_ids]
        older = [row for row in response_rows if row[0] not in new_ids]
        _copy_rows(table=Response._meta.db_table, columns=RESPONSE_COLUMNS, rows=fresh)
        _insert_returning(table=Response._meta.db_table, columns=RESPONSE_COLUMNS, rows=older)
        touched = new_ids | gained
        outcome.interaction_ids = sorted(touched)
        counted: set[str] = set()
        for item in items:
            if item.id in counted:
                outcome.duplicates += 1
                continue
            counted.add(item.id)
            if id_by_external[item.id] in touched:
                outcome.accepted += 1
            else:
                outcome.duplicates += 1

        served_names = {r.version for i in items for r in i.responses if r.served}
        shadow_names = {r.version for i in items for r in i.responses if not r.served}
        _rollout_adopt_versions(
            agent=agent, served=served_names, shadow=shadow_names, versions=versions
        )
        if outcome.interaction_ids:
            from shadow.tasks import postprocess_enqueue

            ids = list(outcome.interaction_ids)
            transaction.on_commit(lambda: postprocess_enqueue(interaction_ids=ids))
            _publish_logged(agent=agent, outcome=outcome, versions=sorted(names))
    return outcome


def _publish_logged(*, agent: Agent, outcome: IngestOutcome, versions: list[str]) -> None:
    """Announce the batch on the event bus, inside the batch's transaction."""
    try:
        from rollouts.events import event_publish
    except ImportError:  # the event bus is optional for ingestion
        return
    event_publish(
        type="interaction.logged",
        agent=agent,
        payload={"count": outcome.accepted, "versions": versions},
    )


def feedback_record(*, agent: Agent, external_id: str, score: int, comment: str) -> Feedback:
    interaction = Interaction.objects.get(agent=agent, external_id=external_id)
    served = interaction.responses.filter(served=True).first()
    with transaction.atomic():
        feedback = Feedback.objects.create(
            interaction=interaction,
            response=served,
            score=score,
            comment="" if interaction.opt_out else comment,
        )
        if score < 0:
            from evaluations.services import flag_open_for_feedback

            flag_open_for_feedback(feedback=feedback)
    return feedback


def user_data_erase(*, agent: Agent, user: str) -> int:
    """Right to be forgotten: every interaction of that user, with all that hangs on it."""
    with transaction.atomic():
        qs = Interaction.objects.filter(agent=agent, user_ref=user_ref(user))
        count = qs.count()
        qs.delete()
    return count


def api_key_create(*, agent: Agent, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    valid = set(ApiKey.Scope.values)
    unknown = [s for s in scopes if s not in valid]
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {sorted(valid)}; got {scopes}")
    issued: IssuedKey = key_issue()
    key = ApiKey.objects.create(
        agent=agent,
        name=name,
        prefix=issued.prefix,
        secret_hash=secret_hash(issued.secret),
        scopes=sorted(set(scopes)),
    )
    return key, issued.token


def api_key_revoke(*, key: ApiKey, when: datetime | None = None) -> None:
    key.revoked_at = when or timezone.now()
    key.save(update_fields=["revoked_at"])
