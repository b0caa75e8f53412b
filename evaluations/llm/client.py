"""A small JSON-only chat client for judge models behind any OpenAI-compatible endpoint.

Retries are deliberately off in the SDK (``max_retries=0``): the Celery layer owns retry policy,
backoff and rate caps, so every failure surfaces here at once as one of our error classes.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import json
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import openai

from evaluations.llm.errors import MalformedOutputError, PermanentLLMError, TransientLLMError

# Statuses a later attempt can plausibly succeed on; everything else in 4xx is a config problem.
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_FENCED_JSON = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class LLMResult:
    data: dict[str, Any]
    raw: str
    tokens_in: int
    tokens_out: int
    model: str


class LLMClient:
    """One judge model at one endpoint. Thread-safe: the SDK client pools connections."""

    def __init__(self, *, base_url: str, api_key: str, model: str, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        # Keyless local servers (vLLM, Ollama) still need a non-empty value for the SDK.
        self._sdk = openai.OpenAI(
            base_url=base_url, api_key=api_key or "no-key", max_retries=0, timeout=timeout
        )
        # Flipped off once the endpoint has rejected ``response_format`` so we stop paying a
        # failed request on every call.
        self._json_mode_supported = True

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.base_url!r}, model={self.model!r})"

    def chat_json(self, *, messages: list[dict[str, str]], max_tokens: int) -> LLMResult:
        """Ask for one JSON object at temperature 0.

        Raises TransientLLMError, PermanentLLMError, or MalformedOutputError when the reply is
        not a JSON object.
        """
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        if self._json_mode_supported:
            try:
                completion = self._create(request | {"response_format": {"type": "json_object"}})
            except PermanentLLMError as exc:
                if exc.status_code != 400:
                    raise
                completion = self._create(request)
                self._json_mode_supported = False
        else:
            completion = self._create(request)
        return _result_from_completion(completion, fallback_model=self.model)

    def list_models(self) -> list[str]:
        """Model ids the endpoint serves; a cheap way to validate a judge's configuration."""
        try:
            return [model.id for model in self._sdk.models.list()]
        except openai.OpenAIError as exc:
            raise _map_sdk_error(exc) from exc

    def close(self) -> None:
        self._sdk.close()

    def _create(self, request: dict[str, Any]) -> Any:
        try:
            return self._sdk.chat.completions.create(**request)
        except openai.OpenAIError as exc:
            raise _map_sdk_error(exc) from exc


@functools.lru_cache(maxsize=64)
def get_client(*, base_url: str, api_key: str, model: str, timeout: float = 30.0) -> LLMClient:
    """Shared client per (base_url, api_key, model, timeout) so a worker reuses connections.

    lru_cache keeps its own structure consistent across threads; a race can at worst build one
    spare client, which is harmless.
    """
    return LLMClient(base_url=base_url, api_key=api_key, model=model, timeout=timeout)


# A pooled connection must never be shared between a prefork parent and its children.
os.register_at_fork(after_in_child=get_client.cache_clear)


def parse_retry_after(headers: Any, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        seconds = _finite_float(milliseconds)
        if seconds is not None:
            return max(seconds / 1000, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite_float(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # HTTP dates are always GMT; "-0000" parses as naive but means the same thing.
        when = when.replace(tzinfo=datetime.UTC)
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _finite_float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _map_sdk_error(exc: openai.OpenAIError) -> Exception:
    if isinstance(exc, openai.APITimeoutError):
        return TransientLLMError("judge LLM request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return TransientLLMError(f"cannot reach judge LLM endpoint: {exc.__cause__ or exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f"HTTP {status}: {_error_text(exc)}"
        if status in _TRANSIENT_STATUSES or status >= 500:
            return TransientLLMError(
                f"judge LLM endpoint answered {detail}",
                retry_after=parse_retry_after(exc.response.headers),
                status_code=status,
            )
        return PermanentLLMError(_permanent_reason(status, detail), status_code=status)
    if isinstance(exc, openai.APIResponseValidationError):
        return PermanentLLMError(
            "judge LLM endpoint did not return a chat completion; check the base URL",
            status_code=exc.status_code,
        )
    return PermanentLLMError(f"judge LLM client error: {exc}")


def _error_text(exc: openai.APIStatusError) -> str:
    # The SDK's own message embeds the whole body repr; operators only need the server's words.
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return exc.message


def _permanent_reason(status: int, detail: str) -> str:
    if status == 401:
        return f"judge LLM rejected the API key ({detail})"
    if status == 403:
        return f"judge LLM API key lacks access ({detail})"
    if status == 404:
        return f"judge LLM model or endpoint not found ({detail})"
    return f"judge LLM rejected the request ({detail})"


def _result_from_completion(completion: Any, *, fallback_model: str) -> LLMResult:
    usage = getattr(completion, "usage", None)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
    choices = getattr(completion, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    raw = getattr(message, "content", None) or ""
    data = _parse_json_object(raw)
    if data is None:
        raise MalformedOutputError(
            raw, reason="reply is not a JSON object", tokens_in=tokens_in, tokens_out=tokens_out
        )
    model = getattr(completion, "model", None) or fallback_model
    return LLMResult(data=data, raw=raw, tokens_in=tokens_in, tokens_out=tokens_out, model=model)


def _parse_json_object(raw: str) -> dict[str, Any] | None:
    # Endpoints without JSON mode often wrap the object in a Markdown code fence.
    text = raw.strip()
    fenced = _FENCED_JSON.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
