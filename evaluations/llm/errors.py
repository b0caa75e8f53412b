"""Errors raised by the judge LLM client.

The split matters to the Celery layer: transient errors are retried (honouring
``retry_after``), permanent errors pause the judge with ``reason`` shown to operators, and
malformed output fails one score while keeping what the model actually said.

Each class defines ``__reduce__`` because Celery pickles exceptions (result backend, retries)
and the default pickling of exceptions with keyword-only arguments loses them.
"""

from __future__ import annotations

from typing import Any


class LLMError(Exception):
    """Base class for every error the judge client raises."""


class TransientLLMError(LLMError):
    """Timeout, connection failure, 429 or 5xx: worth retrying later."""

    def __init__(
        self,
        message: str = "transient LLM error",
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:
        state = {"retry_after": self.retry_after, "status_code": self.status_code}
        return (_rebuild, (type(self), (self.message,), state))


class PermanentLLMError(LLMError):
    """Bad credentials, unknown model or an invalid request: retrying cannot help."""

    def __init__(self, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.reason,), {"status_code": self.status_code}))


class MalformedOutputError(LLMError):
    """The model answered, but not with the JSON the prompt asked for.

    ``tokens_in``/``tokens_out`` are what the failed attempts cost, so budgets still count them.
    """

    def __init__(
        self,
        raw: str,
        *,
        reason: str = "output is not the expected JSON",
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        super().__init__(f"{reason}: {raw[:200]!r}")
        self.raw = raw
        self.reason = reason
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out

    def __reduce__(self) -> tuple[Any, ...]:
        state = {"reason": self.reason, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out}
        return (_rebuild, (type(self), (self.raw,), state))


def _rebuild(cls: type[LLMError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> LLMError:
    return cls(*args, **kwargs)
