"""run_with_shadow: serve from the caller's thread, let the other version answer on the side.

The version that serves the user runs where the caller is and its result is returned as-is
(its exceptions too). The shadow runs in a thread pool (or an asyncio task) with a deadline;
whatever happens to it becomes the shadow response's `error`, never the caller's problem.
Both answers are recorded as one interaction once the shadow is settled.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shadowstage_client.interactions import Interaction, Response, new_interaction_id
from shadowstage_client.recorder import Recorder
from shadowstage_client.routing import Assignment, Router

T = TypeVar("T")
DEFAULT_SHADOW_TIMEOUT = 10.0
MAX_ERROR_CHARS = 2000


class _Pair:
    """The responses of one interaction; recorded once the last expected one arrives."""

    __slots__ = ("_interaction", "_lock", "_missing", "_recorder")

    def __init__(self, *, recorder: Recorder, interaction: Interaction, expected: int) -> None:
        self._recorder = recorder
        self._interaction = interaction
        self._missing = expected
        self._lock = threading.Lock()

    def expect_one_less(self) -> None:
        self._arrive(None)

    def add(self, response: Response) -> None:
        self._arrive(response)

    def _arrive(self, response: Response | None) -> None:
        with self._lock:
            if response is not None:
                self._interaction.responses.append(response)
            self._missing -= 1
            complete = self._missing == 0
        if complete:
            self._interaction.responses.sort(key=lambda r: not r.served)
            self._recorder.record(self._interaction)


class _Settle:
    """First outcome wins: the shadow's own answer or the watchdog's timeout."""

    __slots__ = ("_lock", "done", "pair")

    def __init__(self, pair: _Pair) -> None:
        self.pair = pair
        self.done = False
        self._lock = threading.Lock()

    def __call__(self, response: Response) -> bool:
        with self._lock:
            if self.done:
                return False
            self.done = True
        self.pair.add(response)
        return True


class _Watchdog:
    """One thread that settles shadow calls still running at their deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Settle, Response]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, settle: _Settle, *, deadline: float, on_timeout: Response) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), settle, on_timeout))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="shadowstage-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, settle, on_timeout = heapq.heappop(self._heap)
            if not settle.done:
                settle(on_timeout)


class ShadowPool:
    """Threads for shadow calls. When too many are still running (a hanging shadow),
    new shadows are skipped rather than queued without bound."""

    def __init__(self, *, max_workers: int = 16, max_pending: int | None = None) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="shadowstage-shadow"
        )
        self._max_pending = max_pending if max_pending is not None else 4 * max_workers
        self._pending = 0
        self._lock = threading.Lock()
        self._watchdog = _Watchdog()
        self.skipped = 0
        self.timed_out = 0

    def submit(
        self,
        *,
        fn: Callable[[Any], Any],
        input: Any,
        version: str,
        timeout: float,
        pair: _Pair,
        opt_out: bool,
    ) -> bool:
        with self._lock:
            if self._pending >= self._max_pending:
                self.skipped += 1
                return False
            self._pending += 1
        try:
            self._executor.submit(self._call, fn, input, version, timeout, _Settle(pair), opt_out)
        except RuntimeError:  # shut down (interpreter exit)
            with self._lock:
                self._pending -= 1
                self.skipped += 1
            return False
        return True

    @property
    def pending(self) -> int:
        return self._pending

    def shutdown(self, *, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def _call(
        self,
        fn: Callable[[Any], Any],
        input: Any,
        version: str,
        timeout: float,
        settle: _Settle,
        opt_out: bool,
    ) -> None:
        start = time.perf_counter()
        self._watchdog.watch(
            settle,
            deadline=time.monotonic() + timeout,
            on_timeout=_timeout_response(version=version, timeout=timeout),
        )
        try:
            try:
                result = fn(input)
            except Exception as exc:
                response = _error_response(
                    version=version, served=False, exc=exc, start=start, opt_out=opt_out
                )
            else:
                response = Response.from_result(
                    version=version, served=False, result=result, latency_ms=_ms_since(start)
                )
            if not settle(response):
                with self._lock:
                    self.timed_out += 1
        finally:
            with self._lock:
                self._pending -= 1


_default_pool: ShadowPool | None = None
_default_pool_lock = threading.Lock()


def default_pool() -> ShadowPool:
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None:
            _default_pool = ShadowPool()
        return _default_pool


def _forget_default_pool() -> None:
    global _default_pool, _default_pool_lock
    _default_pool = None  # its threads stayed in the parent process
    _default_pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_default_pool)


def run_with_shadow(
    *,
    production: Callable[[Any], T],
    shadow: Callable[[Any], Any] | None,
    input: Any,
    user: object,
    router: Router,
    recorder: Recorder,
    opt_out: bool = False,
    shadow_timeout: float = DEFAULT_SHADOW_TIMEOUT,
    interaction_id: str | None = None,
    conversation: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    assignment: Assignment | None = None,
    pool: ShadowPool | None = None,
) -> T:
    """Answer `input` with the version the router picks for `user` and return its result.

    `production` is the production version's function, `shadow` the candidate's. Users in
    the candidate's share are served by `shadow`; when the router says so, the other one
    answers too, in the background, and only its response is logged. `opt_out=True` runs
    no shadow and sends no text. Pass `interaction_id` to send feedback for it later.
    """
    serve, served_version, other, other_version, pair = _prepare(
        production=production,
        shadow=shadow,
        input=input,
        user=user,
        router=router,
        recorder=recorder,
        opt_out=opt_out,
        interaction_id=interaction_id,
        conversation=conversation,
        metadata=metadata,
        assignment=assignment,
    )
    if other is not None and not (pool or default_pool()).submit(
        fn=other,
        input=input,
        version=other_version,
        timeout=shadow_timeout,
        pair=pair,
        opt_out=opt_out,
    ):
        pair.expect_one_less()
    start = time.perf_counter()
    try:
        result = serve(input)
    except Exception as exc:
        pair.add(
            _error_response(
                version=served_version, served=True, exc=exc, start=start, opt_out=opt_out
            )
        )
        raise
    pair.add(
        Response.from_result(
            version=served_version, served=True, result=result, latency_ms=_ms_since(start)
        )
    )
    return result


_background: set[asyncio.Task[None]] = set()


async def arun_with_shadow(
    *,
    production: Callable[[Any], Awaitable[T] | T],
    shadow: Callable[[Any], Any] | None,
    input: Any,
    user: object,
    router: Router,
    recorder: Recorder,
    opt_out: bool = False,
    shadow_timeout: float = DEFAULT_SHADOW_TIMEOUT,
    interaction_id: str | None = None,
    conversation: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    assignment: Assignment | None = None,
) -> T:
    """`run_with_shadow` for asyncio: the shadow runs as a task (sync functions in a thread)."""
    serve, served_version, other, other_version, pair = _prepare(
        production=production,
        shadow=shadow,
        input=input,
        user=user,
        router=router,
        recorder=recorder,
        opt_out=opt_out,
        interaction_id=interaction_id,
        conversation=conversation,
        metadata=metadata,
        assignment=assignment,
    )
    if other is not None:
        task = asyncio.create_task(
            _shadow_task(
                fn=other,
                input=input,
                version=other_version,
                timeout=shadow_timeout,
                pair=pair,
                opt_out=opt_out,
            )
        )
        _background.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(_background.discard)
    start = time.perf_counter()
    try:
        result = serve(input)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        pair.add(
            _error_response(
                version=served_version, served=True, exc=exc, start=start, opt_out=opt_out
            )
        )
        raise
    pair.add(
        Response.from_result(
            version=served_version, served=True, result=result, latency_ms=_ms_since(start)
        )
    )
    return result  # type: ignore[return-value]


async def _shadow_task(
    *,
    fn: Callable[[Any], Any],
    input: Any,
    version: str,
    timeout: float,
    pair: _Pair,
    opt_out: bool,
) -> None:
    start = time.perf_counter()
    try:
        if inspect.iscoroutinefunction(fn):
            result = await asyncio.wait_for(fn(input), timeout)
        else:
            result = await asyncio.wait_for(asyncio.to_thread(fn, input), timeout)
    except TimeoutError:
        pair.add(_timeout_response(version=version, timeout=timeout))
    except asyncio.CancelledError:
        pair.add(
            Response(
                version=version,
                served=False,
                output="",
                latency_ms=_ms_since(start),
                error="cancelled before answering",
            )
        )
        raise
    except Exception as exc:
        pair.add(
            _error_response(version=version, served=False, exc=exc, start=start, opt_out=opt_out)
        )
    else:
        pair.add(
            Response.from_result(
                version=version, served=False, result=result, latency_ms=_ms_since(start)
            )
        )


def _prepare(
    *,
    production: Callable[[Any], Any],
    shadow: Callable[[Any], Any] | None,
    input: Any,
    user: object,
    router: Router,
    recorder: Recorder,
    opt_out: bool,
    interaction_id: str | None,
    conversation: str | None,
    metadata: Mapping[str, Any] | None,
    assignment: Assignment | None,
) -> tuple[Callable[[Any], Any], str, Callable[[Any], Any] | None, str, _Pair]:
    """Who serves, who shadows (None: nobody), and the pair collecting their responses."""
    chosen = assignment or router.choose(user)
    serve, served_version = production, chosen.version
    other, other_version = shadow, chosen.shadow_version
    if chosen.is_candidate:
        if shadow is None:  # no candidate code in this process: production is always safe
            serve, served_version, other = production, chosen.production, None
        else:
            serve, other = shadow, production
    if not chosen.shadow or other_version is None or opt_out:
        other = None
    text = input if isinstance(input, str) else json.dumps(input, default=str, ensure_ascii=False)
    interaction = Interaction(
        input=text,
        responses=[],
        user=None if user is None else str(user),
        id=interaction_id or new_interaction_id(),
        conversation=conversation,
        opt_out=opt_out,
        metadata=dict(metadata or {}),
    )
    pair = _Pair(recorder=recorder, interaction=interaction, expected=1 if other is None else 2)
    return serve, served_version, other, other_version or "", pair


def _ms_since(start: float) -> int:
    return max(0, round((time.perf_counter() - start) * 1000))


def _error_response(
    *, version: str, served: bool, exc: BaseException, start: float, opt_out: bool
) -> Response:
    # An exception message can quote the user's text; an opted-out user's must not leave.
    error = type(exc).__name__ if opt_out else f"{type(exc).__name__}: {exc}"
    return Response(
        version=version,
        served=served,
        output="",
        latency_ms=_ms_since(start),
        error=error[:MAX_ERROR_CHARS],
    )


def _timeout_response(*, version: str, timeout: float) -> Response:
    return Response(
        version=version,
        served=False,
        output="",
        latency_ms=round(timeout * 1000),
        error=f"timeout: no answer within {timeout:g} s",
    )
