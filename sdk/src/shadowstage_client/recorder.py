"""Recorder: `record()` appends to a bounded queue; a background thread ships batches.

The caller's thread never waits on the network and never sees an exception. When the queue
is full the oldest waiting items give way and are counted. A batch the server could not take
for a transient reason (connection error, 408, 429, 5xx) stays at the head and is retried with
exponential backoff, honouring Retry-After; a batch it refused (any other 4xx) is dropped and
counted so it cannot block everything behind it. The same ids are re-sent on retry, and the
server never stores an id twice.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shadowstage_client._http import (
    Backoff,
    http_client,
    is_transient,
    restart_after_fork,
    retry_after_seconds,
)
from shadowstage_client.interactions import Interaction, payload_for

logger = logging.getLogger("shadowstage_client.recorder")

JSON_HEADERS = {"Content-Type": "application/json"}
FEEDBACK_MAX_ATTEMPTS = 6
COUNTERS = (
    "recorded",
    "sent",
    "accepted",
    "duplicates",
    "dropped",
    "rejected",
    "lost_at_close",
    "retries",
    "rate_limited",
    "feedback_sent",
    "feedback_dropped",
)


@dataclass(frozen=True, slots=True)
class RecorderStats:
    recorded: int  # record() calls
    queued: int  # waiting in memory
    in_flight: int  # taken by the sender, not acknowledged yet
    sent: int  # acknowledged by the server
    accepted: int  # new to the server
    duplicates: int  # the server already had them (a retry after a lost answer)
    dropped: int  # pushed out of a full queue, or recorded after close()
    rejected: int  # refused by the server (4xx other than 408/429), never retried
    lost_at_close: int  # still unsent when close() ran out of time
    retries: int  # failed attempts that were tried again
    rate_limited: int  # 429 answers
    feedback_sent: int
    feedback_dropped: int
    last_error: str


@dataclass(slots=True)
class _Feedback:
    body: dict[str, Any]
    not_before: float = 0.0
    attempts: int = 0


class _Retry:
    __slots__ = ("after",)

    def __init__(self, after: float | None) -> None:
        self.after = after


class Recorder:
    """Ships interactions of one agent to `POST /api/v1/interactions` in the background."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        agent: str,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_seconds: float = 1.0,
        max_batch_bytes: int = 4_000_000,
        timeout: float = 10.0,
        close_timeout: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.agent = agent
        self.base_url = base_url
        self._api_key = api_key
        self._timeout = timeout
        self._max_queue = max_queue
        self._batch_size = max(1, min(batch_size, 1000))
        self._flush_seconds = flush_seconds
        self._max_batch_bytes = max_batch_bytes
        self._close_timeout = close_timeout
        self._backoff = backoff or Backoff()
        self._queue: deque[tuple[float, Interaction | Mapping[str, Any]]] = deque(maxlen=max_queue)
        self._feedback: deque[_Feedback] = deque(maxlen=max_queue)
        self._inflight: list[bytes] = []
        self._encoding = 0
        self._chunk = self._batch_size
        self._resume_at = 0.0
        self._closed = False
        self._deadline: float | None = None
        self._failing = False
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._last_error = ""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._client = http_client(base_url=base_url, api_key=api_key, timeout=timeout)
        self._thread = self._start_thread()
        atexit.register(self._at_exit)
        restart_after_fork(self)

    # --- the caller's side --------------------------------------------------------------
    def record(self, interaction: Interaction | Mapping[str, Any]) -> None:
        """Queue one interaction for sending; never blocks on I/O, never raises."""
        with self._lock:
            counts = self._counts
            counts["recorded"] += 1
            if self._closed:
                counts["dropped"] += 1
                return
            queue = self._queue
            if len(queue) == self._max_queue:
                counts["dropped"] += 1  # the append below pushes the oldest out
            queue.append((time.time(), interaction))
            waiting = len(queue)
        if waiting >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def feedback(self, *, interaction_id: str, score: int, comment: str = "") -> None:
        """Queue a user's thumbs-up (1), neutral (0) or thumbs-down (-1) on the served answer.

        Sent after the interactions recorded before it, so the server knows the id.
        """
        body = {"interaction": interaction_id, "agent": self.agent, "score": score}
        if comment:
            body["comment"] = comment
        with self._lock:
            if self._closed:
                self._counts["feedback_dropped"] += 1
                return
            self._feedback.append(_Feedback(body=body))

    def stats(self) -> RecorderStats:
        with self._lock:
            return RecorderStats(
                **self._counts,
                queued=len(self._queue),
                in_flight=len(self._inflight) + self._encoding,
                last_error=self._last_error,
            )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far was sent or given up; True when all went."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = len(self._queue) + len(self._inflight) + self._encoding
                pending += len(self._feedback)
            if not pending:
                return True
            if time.monotonic() >= deadline or not self._thread.is_alive():
                return False
            self._wake.set()
            time.sleep(0.02)

    def close(self, timeout: float | None = None) -> None:
        """Send what is left (until `timeout`), then stop. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._at_exit)
        wait = self._close_timeout if timeout is None else timeout
        self._deadline = time.monotonic() + wait
        self._closing.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=wait + self._timeout + 1)
        with self._lock:
            lost = len(self._queue) + len(self._inflight) + self._encoding
            self._counts["lost_at_close"] += lost
            self._queue.clear()
            self._inflight = []
            self._counts["feedback_dropped"] += len(self._feedback)
            self._feedback.clear()
        if lost:
            logger.warning("recorder closed, %d interactions unsent: %s", lost, self._last_error)
        self._client.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        self.close()

    # --- the sender thread ----------------------------------------------------------------
    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="shadowstage-recorder", daemon=True)
        thread.start()
        return thread

    def _after_fork_in_child(self) -> None:
        # The parent keeps sending what it had queued; the child starts empty.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._queue.clear()
        self._feedback.clear()
        self._inflight = []
        self._encoding = 0
        self._client = http_client(
            base_url=self.base_url, api_key=self._api_key, timeout=self._timeout
        )
        if not self._closed:
            self._thread = self._start_thread()

    def _run(self) -> None:
        while True:
            if not self._closing.is_set():
                self._wake.wait(self._flush_seconds)
                self._wake.clear()
            try:
                finished = self._drain()
            except Exception:  # the sender must outlive any surprise
                logger.exception("recorder sender failed; retrying")
                finished = not self._sleep(1.0)
            if self._closing.is_set() and (finished or self._past_deadline()):
                return

    def _drain(self) -> bool:
        """Send until the queue is empty; False when close()'s deadline cut it short."""
        attempt = 0
        while True:
            if not self._sleep(self._resume_at - time.monotonic()):
                return False
            if not self._inflight:
                if not self._queue:
                    break
                self._take()
                continue
            retry = self._send_chunk()
            if retry is None:
                attempt = 0
                continue
            with self._lock:
                self._counts["retries"] += 1
            if not self._sleep(self._backoff.delay(attempt=attempt, retry_after=retry.after)):
                return False
            attempt += 1
        return self._send_feedback()

    def _take(self) -> None:
        with self._lock:
            count = min(len(self._queue), self._batch_size)
            raw = [self._queue.popleft() for _ in range(count)]
            self._encoding = count
        encoded = []
        for recorded_at, item in raw:
            try:
                body = payload_for(item, agent=self.agent, recorded_at=recorded_at)
                encoded.append(json.dumps(body, ensure_ascii=False, default=str).encode())
            except Exception as exc:  # one malformed item must not sink the batch
                self._note_error(f"cannot encode interaction: {exc!r}")
                with self._lock:
                    self._counts["rejected"] += 1
        with self._lock:
            self._inflight = encoded
            self._encoding = 0
            self._chunk = self._batch_size

    def _select_chunk(self) -> list[bytes]:
        chunk: list[bytes] = []
        size = 0
        for item in self._inflight[: self._chunk]:
            if chunk and size + len(item) + 1 > self._max_batch_bytes:
                break
            chunk.append(item)
            size += len(item) + 1
        return chunk

    def _send_chunk(self) -> _Retry | None:
        chunk = self._select_chunk()
        body = b'{"interactions":[' + b",".join(chunk) + b"]}"
        try:
            response = self._client.post("/interactions", content=body, headers=JSON_HEADERS)
        except httpx.HTTPError as exc:
            self._note_error(f"{exc.__class__.__name__}: {exc}")
            return _Retry(None)
        status = response.status_code
        if 200 <= status < 300:
            self._acknowledged(chunk, response)
            return None
        if is_transient(status):
            self._note_error(f"HTTP {status}: {response.text[:200]}")
            if status == 429:
                with self._lock:
                    self._counts["rate_limited"] += 1
            return _Retry(retry_after_seconds(response))
        if status == 413 and len(chunk) > 1:
            self._chunk = max(1, len(chunk) // 2)  # too large for the server: halve and resend
            return None
        self._refused(chunk, response)
        return None

    def _acknowledged(self, chunk: list[bytes], response: httpx.Response) -> None:
        try:
            result = response.json()
            accepted, duplicates = int(result["accepted"]), int(result["duplicates"])
        except (ValueError, KeyError, TypeError):
            accepted, duplicates = len(chunk), 0
        if self._failing:
            logger.info("recorder delivering again")
        self._failing = False
        with self._lock:
            del self._inflight[: len(chunk)]
            counts = self._counts
            counts["sent"] += len(chunk)
            counts["accepted"] += accepted
            counts["duplicates"] += duplicates

    def _refused(self, chunk: list[bytes], response: httpx.Response) -> None:
        """Drop what the server will never take: the items it named, else the whole chunk."""
        indexes: set[int] = set()
        try:
            detail = response.json()
            indexes = {
                e["index"]
                for e in detail.get("errors", [])
                if isinstance(e.get("index"), int) and 0 <= e["index"] < len(chunk)
            }
        except (ValueError, TypeError, AttributeError):
            detail = response.text[:500]
        if not indexes:
            indexes = set(range(len(chunk)))
        logger.error(
            "server refused %d of %d interactions (HTTP %s): %s",
            len(indexes),
            len(chunk),
            response.status_code,
            detail,
        )
        keep = [item for i, item in enumerate(chunk) if i not in indexes]
        with self._lock:
            self._inflight[: len(chunk)] = keep
            self._counts["rejected"] += len(indexes)
            self._last_error = f"HTTP {response.status_code}: refused {len(indexes)} interactions"

    def _send_feedback(self) -> bool:
        now = time.monotonic()
        for _ in range(len(self._feedback)):
            try:
                item = self._feedback.popleft()
            except IndexError:
                break
            if item.not_before > now:
                self._feedback.append(item)
                continue
            try:
                response = self._client.post("/feedback", json=item.body)
            except httpx.HTTPError as exc:
                self._note_error(f"{exc.__class__.__name__}: {exc}")
                self._feedback.appendleft(item)
                return True
            status = response.status_code
            if 200 <= status < 300:
                with self._lock:
                    self._counts["feedback_sent"] += 1
            elif is_transient(status):
                self._feedback.appendleft(item)
                self._resume_at = now + (retry_after_seconds(response) or 1.0)
                return True
            elif status == 404 and item.attempts < FEEDBACK_MAX_ATTEMPTS:
                # The interaction may still be waiting for its shadow answer before it is sent.
                item.attempts += 1
                item.not_before = now + 2**item.attempts
                self._feedback.append(item)
            else:
                logger.error("feedback refused (HTTP %s): %s", status, response.text[:300])
                with self._lock:
                    self._counts["feedback_dropped"] += 1
        return True

    # --- waiting --------------------------------------------------------------------------
    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _sleep(self, seconds: float) -> bool:
        """Wait out a backoff; False when close()'s deadline ends the wait first."""
        until = time.monotonic() + seconds
        while (now := time.monotonic()) < until:
            deadline = self._deadline
            if deadline is not None and now >= deadline:
                return False
            limit = until if deadline is None else min(until, deadline)
            if self._closing.is_set():
                time.sleep(limit - now)
            else:
                self._closing.wait(limit - now)
        return not self._past_deadline()

    def _note_error(self, error: str) -> None:
        if not self._failing:
            logger.warning("recorder cannot deliver, will retry: %s", error)
        self._failing = True
        self._last_error = error
