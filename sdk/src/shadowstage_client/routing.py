"""Which version answers a user: the routing table, kept fresh in the background (SPEC §2).

`Router.choose()` only reads memory. A background thread polls
`GET /api/v1/agents/{slug}/routing` with `If-None-Match`, and every table that arrives is
also written to a backup file so a restart while the server is unreachable still routes
users exactly as before. With nothing known at all, everyone gets production.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mmh3

from shadowstage_client._http import http_client, restart_after_fork

logger = logging.getLogger("shadowstage_client.routing")

BUCKETS = 100
FULL_FETCH_EVERY = 30
BACKUP_FORMAT = 1
_hash = mmh3.hash


def bucket_for(*, salt: str, user: object) -> int:
    """The user's bucket in 1..100; the server and every client compute the same one."""
    return _hash(f"{salt}:{user}", 0, False) % BUCKETS + 1


@dataclass(frozen=True, slots=True)
class Assignment:
    """The router's answer for one user.

    `version` serves the user. When `shadow` is true, `shadow_version` (the other one) also
    answers and is only logged. `revision` 0 means nothing was known: production, fail-safe.
    """

    version: str
    shadow: bool
    shadow_version: str | None
    production: str
    candidate: str | None
    bucket: int
    revision: int

    @property
    def is_candidate(self) -> bool:
        return self.candidate is not None and self.version == self.candidate


@dataclass(frozen=True, slots=True)
class RoutingTable:
    agent: str
    production: str | None
    candidate: str | None
    candidate_percent: int
    shadow_percent: int
    salt: str
    revision: int
    updated_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RoutingTable:
        def percent(name: str) -> int:
            return min(BUCKETS, max(0, int(data.get(name) or 0)))

        return cls(
            agent=str(data["agent"]),
            production=data.get("production") or None,
            candidate=data.get("candidate") or None,
            candidate_percent=percent("candidate_percent"),
            shadow_percent=percent("shadow_percent"),
            salt=str(data["salt"]),
            revision=int(data["revision"]),
            updated_at=data.get("updated_at"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "production": self.production,
            "candidate": self.candidate,
            "candidate_percent": self.candidate_percent,
            "shadow_percent": self.shadow_percent,
            "salt": self.salt,
            "revision": self.revision,
            "updated_at": self.updated_at,
        }

    def assignment(self, *, bucket: int, fallback_version: str) -> Assignment:
        if self.production is None or self.candidate is None:
            only = self.production or self.candidate or fallback_version
            return Assignment(only, False, None, only, None, bucket, self.revision)
        production, candidate = self.production, self.candidate
        served_candidate = bucket <= self.candidate_percent
        shadow = bucket <= self.shadow_percent
        version, other = (candidate, production) if served_candidate else (production, candidate)
        return Assignment(
            version, shadow, other if shadow else None, production, candidate, bucket, self.revision
        )


class _Compiled:
    """A table turned into one precomputed Assignment per bucket, swapped atomically."""

    __slots__ = (
        "anonymous",
        "anonymous_shadow",
        "by_index",
        "choose",
        "prefix",
        "shadow_percent",
        "table",
    )

    def __init__(self, table: RoutingTable | None, *, fallback_version: str) -> None:
        self.table = table
        if table is None:
            safe = Assignment(fallback_version, False, None, fallback_version, None, 0, 0)
            self.prefix = ":"
            self.by_index = (safe,) * BUCKETS
            self.anonymous = self.anonymous_shadow = safe
            self.shadow_percent = 0
            self.choose = self._chooser()
            return
        self.prefix = f"{table.salt}:"
        self.by_index = tuple(
            table.assignment(bucket=b, fallback_version=fallback_version)
            for b in range(1, BUCKETS + 1)
        )
        # Without a user id nobody can be kept on the candidate consistently: production,
        # and a coin flip at the shadow percentage so anonymous traffic still yields pairs.
        first = table.assignment(bucket=BUCKETS + 1, fallback_version=fallback_version)
        self.anonymous = Assignment(
            first.production, False, None, first.production, first.candidate, 0, table.revision
        )
        self.anonymous_shadow = Assignment(
            first.production,
            first.candidate is not None,
            first.candidate,
            first.production,
            first.candidate,
            0,
            table.revision,
        )
        self.shadow_percent = table.shadow_percent
        self.choose = self._chooser()

    def _chooser(self) -> Callable[[object], Assignment]:
        """`choose(user)` as a closure over this table: locals only, no attribute lookups."""
        prefix, by_index, anonymous_choice = self.prefix, self.by_index, self.anonymous_choice
        hash_, buckets = _hash, BUCKETS

        def choose(user: object) -> Assignment:
            """The version for this user (and whether the other one shadows); memory only."""
            try:
                return by_index[hash_(prefix + user, 0, False) % buckets]  # type: ignore[operator]
            except TypeError:  # not a str: None (anonymous) or e.g. an int id
                if user is None:
                    return anonymous_choice()
                return by_index[hash_(f"{prefix}{user}", 0, False) % buckets]

        return choose

    def anonymous_choice(self) -> Assignment:
        if random.random() * BUCKETS < self.shadow_percent:
            return self.anonymous_shadow
        return self.anonymous


def default_backup_path(*, base_url: str, agent: str) -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    server = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:10]
    return Path(cache) / "shadowstage" / f"routing-{agent}-{server}.json"


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Router:
    """Routes users between the production and candidate versions of one agent.

    `choose()` never touches the network; everything it needs is refreshed in the background
    every `refresh_seconds`. `fallback_version` names production while nothing is known.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        agent: str,
        refresh_seconds: float = 10.0,
        backup_path: str | os.PathLike[str] | None = None,
        fallback_version: str = "production",
        timeout: float = 3.0,
    ) -> None:
        self.agent = agent
        self.base_url = base_url
        self.refresh_seconds = refresh_seconds
        self.fallback_version = fallback_version
        self.backup_path = (
            Path(backup_path)
            if backup_path is not None
            else default_backup_path(base_url=base_url, agent=agent)
        )
        self._api_key = api_key
        self._timeout = timeout
        self._url = f"/agents/{agent}/routing"
        self._compiled = _Compiled(None, fallback_version=fallback_version)
        self.choose = self._compiled.choose
        self._etag: str | None = None
        self._failing = False
        self.source = "fail-safe"
        self.last_error = ""
        self.last_success: float | None = None
        self.fetches = 0
        self.not_modified = 0
        self._stop = threading.Event()
        self._client = http_client(base_url=base_url, api_key=api_key, timeout=timeout)
        # The backup is used only when the server cannot be asked. Its ETag is never
        # revalidated: an ETag is just the revision, and another database (or a reset one)
        # has a revision 1 too, with another salt.
        backup = self._read_backup()
        if not self.refresh() and backup is not None:
            self._install(backup, etag=None, source="backup")
            logger.info("routing for %s from backup, revision %s", agent, backup.revision)
        elif self._compiled.table is None:
            logger.warning("no routing known for %s yet: everyone gets %s", agent, fallback_version)
        self._thread = self._start_thread()
        restart_after_fork(self)

    # --- the hot path -------------------------------------------------------------------
    # `choose(user) -> Assignment`: the version for this user (and whether the other one
    # shadows), from memory only. It is the current table's closure, swapped atomically
    # with the table, so a call is one function call with no attribute lookups.
    choose: Callable[[object], Assignment]

    @property
    def table(self) -> RoutingTable | None:
        return self._compiled.table

    # --- refreshing ---------------------------------------------------------------------
    def refresh(self) -> bool:
        """One conditional fetch; True when the server answered with a usable table."""
        # Now and then ask unconditionally, for the same reason backups are not revalidated.
        etag = self._etag if self.fetches % FULL_FETCH_EVERY else None
        headers = {"If-None-Match": etag} if etag else {}
        self.fetches += 1
        try:
            response = self._client.get(self._url, headers=headers)
        except httpx.HTTPError as exc:
            return self._failed(f"{exc.__class__.__name__}: {exc}")
        if response.status_code == 304:
            self.not_modified += 1
            return self._succeeded()
        if response.status_code != 200:
            return self._failed(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            data = response.json()
            table = RoutingTable.from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            return self._failed(f"unusable routing answer: {exc}")
        if table.agent != self.agent:
            return self._failed(f"routing answer is for agent '{table.agent}'")
        etag = response.headers.get("ETag")
        if table != self._compiled.table or self.source != "server":
            self._install(table, etag=etag, source="server")
            self._save_backup(table)
        self._etag = etag
        return self._succeeded()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._timeout + 1)
        self._client.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _install(self, table: RoutingTable, *, etag: str | None, source: str) -> None:
        compiled = _Compiled(table, fallback_version=self.fallback_version)
        self._compiled = compiled
        self.choose = compiled.choose
        self._etag = etag
        self.source = source

    def _succeeded(self) -> bool:
        if self._failing:
            logger.info("routing for %s reachable again (revision %s)", self.agent, self.revision)
        self._failing = False
        self.last_error = ""
        self.last_success = time.time()
        return True

    def _failed(self, error: str) -> bool:
        if not self._failing:
            # Once per outage, not once per poll.
            logger.warning(
                "routing for %s unavailable, keeping %s table (revision %s): %s",
                self.agent,
                self.source,
                self.revision,
                error,
            )
        self._failing = True
        self.last_error = error
        return False

    @property
    def revision(self) -> int:
        table = self._compiled.table
        return table.revision if table else 0

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds * random.uniform(0.9, 1.1)):
            try:
                self.refresh()
            except Exception:  # the refresher must outlive any surprise
                logger.exception("routing refresh failed")

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="shadowstage-router", daemon=True)
        thread.start()
        return thread

    def _after_fork_in_child(self) -> None:
        self._stop = threading.Event()
        self._client = http_client(
            base_url=self.base_url, api_key=self._api_key, timeout=self._timeout
        )
        self._thread = self._start_thread()

    # --- backup file --------------------------------------------------------------------
    def _save_backup(self, table: RoutingTable) -> None:
        body = {"format": BACKUP_FORMAT, "saved_at": time.time(), "routing": table.to_json()}
        try:
            write_atomically(self.backup_path, json.dumps(body, indent=1).encode())
        except OSError as exc:
            logger.warning("cannot write routing backup %s: %s", self.backup_path, exc)

    def _read_backup(self) -> RoutingTable | None:
        try:
            body = json.loads(self.backup_path.read_bytes())
            if body.get("format") != BACKUP_FORMAT:
                raise ValueError(f"unknown backup format {body.get('format')!r}")
            table = RoutingTable.from_json(body["routing"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("ignoring routing backup %s: %s", self.backup_path, exc)
            return None
        if table.agent != self.agent:
            logger.warning("ignoring routing backup %s: agent %s", self.backup_path, table.agent)
            return None
        return table
