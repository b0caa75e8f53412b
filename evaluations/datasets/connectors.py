"""Ways to ask an agent version for an answer: OpenAI-compatible chat, generic HTTP JSON, demo.

Every connector answers one input at a time and raises one of three errors, which decide what
the run does next:
- ``TransientConnectorError`` (timeout, connection refused, 429, 5xx): retry later with backoff,
  pause the run when it keeps happening;
- ``PermanentConnectorError`` (401/403/404, HTML instead of JSON, missing answer path): pause the
  run at once with the reason, because no retry can fix configuration;
- ``ItemRejectedError`` (400/413/422 for this input only): record the item as failed and go on.

Secrets never enter the database: the connector config names an environment variable
(``api_key_env``) that holds the key.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import openai

from evaluations.llm.client import parse_retry_after

KINDS = ("demo", "openai", "http")
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 16
DEFAULT_MAX_RETRIES = 4
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_ITEM_STATUSES = frozenset({400, 413, 422})
_PLACEHOLDER = "{{input}}"


class ConnectorError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientConnectorError(ConnectorError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentConnectorError(ConnectorError):
    pass


class ItemRejectedError(ConnectorError):
    pass


class ConnectorConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Answer:
    output: str
    latency_ms: int


class Connector(Protocol):
    def answer(self, *, input: str) -> Answer: ...

    def close(self) -> None: ...


def connector_config_clean(*, config: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise a connector config; raise ConnectorConfigError with the reason."""
    kind = str(config.get("kind") or "").strip()
    if kind not in KINDS:
        raise ConnectorConfigError(f"connector kind must be one of {', '.join(KINDS)}")
    clean: dict[str, Any] = {"kind": kind}
    clean["concurrency"] = _int_in(config, "concurrency", DEFAULT_CONCURRENCY, 1, MAX_CONCURRENCY)
    clean["requests_per_minute"] = _int_in(config, "requests_per_minute", 0, 0, 100_000)
    clean["timeout"] = float(_int_in(config, "timeout", int(DEFAULT_TIMEOUT), 1, 600))
    clean["max_retries"] = _int_in(config, "max_retries", DEFAULT_MAX_RETRIES, 0, 10)
    if kind == "demo":
        clean["time_scale"] = _float_in(config, "time_scale", 1.0, 0.0, 10.0)
    api_key_env = str(config.get("api_key_env") or "").strip()
    if api_key_env and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", api_key_env):
        raise ConnectorConfigError("api_key_env must name an environment variable (A-Z, 0-9, _)")
    if kind == "openai":
        clean["base_url"] = _url(config, "base_url")
        clean["model"] = str(config.get("model") or "").strip()
        if not clean["model"]:
            raise ConnectorConfigError("the OpenAI-compatible connector needs a model name")
        clean["system_prompt"] = str(config.get("system_prompt") or "")
        clean["api_key_env"] = api_key_env
    elif kind == "http":
        clean["url"] = _url(config, "url")
        template = str(config.get("request_template") or "").strip() or '{"input": "{{input}}"}'
        try:
            parsed = json.loads(template)
        except json.JSONDecodeError as exc:
            raise ConnectorConfigError(f"the request template is not JSON: {exc.msg}") from exc
        if _PLACEHOLDER not in template:
            raise ConnectorConfigError("the request template must contain {{input}}")
        clean["request_template"] = parsed
        clean["answer_path"] = str(config.get("answer_path") or "").strip()
        if not clean["answer_path"]:
            raise ConnectorConfigError("name the JSON path of the answer, e.g. output or data.text")
        clean["api_key_env"] = api_key_env
    return clean


def connector_describe(*, config: dict[str, Any]) -> str:
    kind = config.get("kind")
    if kind == "openai":
        return f"OpenAI-compatible {config.get('base_url')} · {config.get('model')}"
    if kind == "http":
        return f"HTTP JSON {config.get('url')} → {config.get('answer_path')}"
    return "demo agents (in-process)"


def connector_build(*, config: dict[str, Any], agent_slug: str, version_name: str) -> Connector:
    kind = config.get("kind")
    timeout = float(config.get("timeout") or DEFAULT_TIMEOUT)
    api_key = os.environ.get(config.get("api_key_env") or "", "")
    if kind == "openai":
        return OpenAIChatConnector(
            base_url=config["base_url"],
            model=config["model"],
            system_prompt=config.get("system_prompt", ""),
            api_key=api_key,
            timeout=timeout,
        )
    if kind == "http":
        return HttpJsonConnector(
            url=config["url"],
            request_template=config["request_template"],
            answer_path=config["answer_path"],
            api_key=api_key,
            timeout=timeout,
            version_name=version_name,
        )
    if kind == "demo":
        return DemoConnector(
            version_name=version_name, time_scale=float(config.get("time_scale", 1.0))
        )
    raise PermanentConnectorError(f"unknown connector kind {kind!r}")


def endpoint_key(*, config: dict[str, Any]) -> str:
    """What a rate cap is shared by: every run hitting the same endpoint."""
    return str(config.get("base_url") or config.get("url") or config.get("kind"))


class OpenAIChatConnector:
    def __init__(
        self, *, base_url: str, model: str, system_prompt: str, api_key: str, timeout: float
    ) -> None:
        self.model = model
        self.system_prompt = system_prompt
        # Retries belong to the run (backoff, pause with a reason), not to the SDK.
        self._sdk = openai.OpenAI(
            base_url=base_url, api_key=api_key or "no-key", max_retries=0, timeout=timeout
        )

    def answer(self, *, input: str) -> Answer:
        messages: list[Any] = [{"role": "user", "content": input}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        started = time.monotonic()
        try:
            completion: Any = self._sdk.chat.completions.create(
                model=self.model, messages=messages, temperature=0
            )
        except openai.OpenAIError as exc:
            raise _openai_error(exc) from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        # The SDK hands back the raw text when the body is not JSON (an HTML error page).
        if isinstance(completion, str):
            raise PermanentConnectorError(
                "the endpoint answered with text/HTML, not a chat completion "
                f"({_snippet(completion)}); check the base URL"
            )
        choices = getattr(completion, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise PermanentConnectorError(
                "the endpoint's reply has no choices[0].message; is it OpenAI-compatible?"
            )
        return Answer(output=choices[0].message.content or "", latency_ms=latency_ms)

    def close(self) -> None:
        self._sdk.close()


def _openai_error(exc: openai.OpenAIError) -> ConnectorError:
    if isinstance(exc, openai.APITimeoutError):
        return TransientConnectorError("the agent endpoint timed out")
    if isinstance(exc, openai.APIConnectionError):
        return TransientConnectorError(
            f"cannot reach the agent endpoint: {exc.__cause__ or exc.message}"
        )
    if isinstance(exc, openai.APIStatusError):
        return _status_error(
            exc.status_code, _body_text(exc.body) or exc.message, headers=exc.response.headers
        )
    return PermanentConnectorError(f"the endpoint's reply is not a chat completion: {exc}")


class HttpJsonConnector:
    def __init__(
        self,
        *,
        url: str,
        request_template: Any,
        answer_path: str,
        api_key: str,
        timeout: float,
        version_name: str,
    ) -> None:
        self.url = url
        self.request_template = request_template
        self.answer_path = answer_path
        self.version_name = version_name
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(timeout=timeout, headers=headers)

    def answer(self, *, input: str) -> Answer:
        body = fill_template(self.request_template, input=input, version=self.version_name)
        started = time.monotonic()
        try:
            response = self._http.post(self.url, json=body)
        except httpx.TimeoutException as exc:
            raise TransientConnectorError("the agent endpoint timed out") from exc
        except httpx.TransportError as exc:
            raise TransientConnectorError(f"cannot reach the agent endpoint: {exc}") from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        if response.status_code >= 300:
            raise _status_error(
                response.status_code, _snippet(response.text), headers=response.headers
            )
        try:
            data = response.json()
        except ValueError as exc:
            kind = "HTML" if "html" in response.headers.get("content-type", "") else "not JSON"
            raise PermanentConnectorError(
                f"the endpoint answered {kind} ({_snippet(response.text)}); check the URL"
            ) from exc
        output = json_path_get(data, self.answer_path)
        if output is None:
            raise PermanentConnectorError(
                f"the answer path {self.answer_path!r} is not in the reply "
                f"({_snippet(json.dumps(data))}); fix the path"
            )
        if not isinstance(output, str):
            output = json.dumps(output, ensure_ascii=False)
        return Answer(output=output, latency_ms=latency_ms)

    def close(self) -> None:
        self._http.close()


class DemoConnector:
    """The deterministic demo agents, called in-process; no network.

    ``time_scale`` 1 sleeps for each answer's simulated latency (so progress can be watched
    on the demo); 0 answers at once. The reported latency is the simulated one either way.
    """

    def __init__(self, *, version_name: str, time_scale: float = 1.0) -> None:
        try:
            from shadow.demo.agents import demo_agents
        except ImportError as exc:
            raise PermanentConnectorError("the demo agents are not installed") from exc
        agents = demo_agents(time_scale=time_scale)
        if version_name not in agents:
            raise PermanentConnectorError(
                f"no demo agent for version {version_name!r}; demo versions are "
                f"{', '.join(sorted(agents))}"
            )
        self._agent = agents[version_name]

    def answer(self, *, input: str) -> Answer:
        reply = self._agent(input)
        return Answer(output=reply.output, latency_ms=int(self._agent.latency_ms(input)))

    def close(self) -> None:
        return None


def fill_template(template: Any, *, input: str, version: str) -> Any:
    """Put the input into a parsed JSON template; a string that is only the placeholder becomes
    the input itself, so escaping is the JSON encoder's job, never ours."""
    if isinstance(template, dict):
        return {k: fill_template(v, input=input, version=version) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_template(v, input=input, version=version) for v in template]
    if isinstance(template, str):
        if template == _PLACEHOLDER:
            return input
        return template.replace("{{version}}", version).replace(_PLACEHOLDER, input)
    return template


def json_path_get(data: Any, path: str) -> Any:
    """Follow ``choices.0.message.content`` / ``$.data.answer`` / ``items[0].text``."""
    parts = re.findall(r"[^.\[\]]+", path.removeprefix("$").strip("."))
    current = data
    for part in parts:
        if isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return None
            current = current[index]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return None
    return current


def _status_error(status: int, detail: str, *, headers: Any) -> ConnectorError:
    message = f"the agent endpoint answered HTTP {status}: {detail}"
    if status in _TRANSIENT_STATUSES or status >= 500:
        return TransientConnectorError(message, retry_after=parse_retry_after(headers))
    if status in _ITEM_STATUSES:
        return ItemRejectedError(message)
    return PermanentConnectorError(message)


def _body_text(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    return ""


def _snippet(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return repr(flat[:limit] + ("…" if len(flat) > limit else ""))


def _url(config: dict[str, Any], key: str) -> str:
    value = str(config.get(key) or "").strip()
    if not re.match(r"^https?://[^\s/]+", value):
        raise ConnectorConfigError(f"{key} must be an http(s) URL")
    return value.rstrip("/") if key == "base_url" else value


def _int_in(config: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    raw = config.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise ConnectorConfigError(f"{key} must be a whole number") from exc
    if not low <= value <= high:
        raise ConnectorConfigError(f"{key} must be between {low} and {high}")
    return value


def _float_in(config: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    raw = config.get(key)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise ConnectorConfigError(f"{key} must be a number") from exc
    if not low <= value <= high:
        raise ConnectorConfigError(f"{key} must be between {low:g} and {high:g}")
    return value
