"""A real local HTTP server that behaves like an OpenAI-compatible judge endpoint.

It serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1, grades with the
deterministic rules in ``tests.fakes.judge_rules``, and can be told to fail in scripted ways.
Behaviour is changed over HTTP so a test can steer a server that another process (a Celery
worker, a dev server) is talking to:

- ``POST /_control`` JSON: merge config keys (see ``CONFIG_KEYS``); ``{"reset": true}`` first
  restores defaults and clears stats.
- ``GET /_stats``: call counts by status and task kind, token totals.
- ``GET /_requests``: the recorded chat requests (model, messages, response_format, ...).

In tests::

    with FakeOpenAI.start() as server:
        server.configure(script=[{"status": 429, "retry_after": 2}])
        client = LLMClient(base_url=server.base_url, api_key="k", model="fake-judge")

Standalone (for demos with ``JUDGE_LLM_BASE_URL``)::

    python -m tests.fakes.openai_server --port 8765
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

from tests.fakes import judge_rules

DEFAULT_MODELS = ("fake-judge", "gpt-4o-mini", "gpt-4.1-mini")
CONFIG_KEYS = (
    "latency",  # seconds before every response
    "status",  # every chat call answers with this status (e.g. 401)
    "retry_after",  # Retry-After header (seconds or HTTP date) on scripted/forced errors
    # per-call overrides consumed in order: {"status", "retry_after", "malformed", "latency"}
    "script",
    "status_for_seconds",  # {"status": 429, "seconds": 10, "retry_after": 2}
    "error_rate",  # probability of answering ``error_status`` (seeded RNG)
    "error_status",
    "seed",
    "malformed",  # every successful reply is malformed: one of judge_rules.MALFORMED_KINDS
    "position_bias",  # pairwise: the first answer always wins
    "models",  # known model ids; others get 404 model_not_found
    "api_key",  # required bearer key; None accepts any
    "reject_response_format",  # 400 when the request carries response_format
    "omit_usage",  # leave ``usage`` out of replies
)
_REQUEST_LOG_SIZE = 500


@dataclass
class _Config:
    latency: float = 0.0
    status: int | None = None
    retry_after: float | str | None = None
    script: list[dict[str, Any]] = field(default_factory=list)
    status_window: dict[str, Any] | None = None
    error_rate: float = 0.0
    error_status: int = 500
    seed: int = 0
    malformed: str | None = None
    position_bias: bool = False
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    api_key: str | None = None
    reject_response_format: bool = False
    omit_usage: bool = False


@dataclass
class _Outcome:
    status: int = 200
    retry_after: float | str | None = None
    malformed: str | None = None
    latency: float = 0.0
    error_code: str | None = None


class _FakeState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset()

    def reset(self) -> None:
        self.config = _Config()
        self.rng = random.Random(self.config.seed)
        self.by_status: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.tokens_in = 0
        self.tokens_out = 0
        self.models_calls = 0
        self.requests: deque[dict[str, Any]] = deque(maxlen=_REQUEST_LOG_SIZE)

    def configure(self, changes: dict[str, Any]) -> None:
        unknown = set(changes) - set(CONFIG_KEYS) - {"reset"}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known: {CONFIG_KEYS}")
        with self.lock:
            if changes.get("reset"):
                self.reset()
            for key, value in changes.items():
                if key == "reset":
                    continue
                if key == "status_for_seconds":
                    self.config.status_window = {
                        "status": int(value["status"]),
                        "retry_after": value.get("retry_after"),
                        "until": time.monotonic() + float(value["seconds"]),
                    }
                elif key == "script":
                    self.config.script = [dict(item) for item in value]
                else:
                    setattr(self.config, key, value)
                if key == "seed":
                    self.rng = random.Random(value)

    def decide(self, *, model: str, authorised: bool, wants_json_mode: bool) -> _Outcome:
        with self.lock:
            config = self.config
            if not authorised:
                return _Outcome(status=401, latency=config.latency, error_code="invalid_api_key")
            step = config.script.pop(0) if config.script else {}
            outcome = _Outcome(
                retry_after=step.get("retry_after", config.retry_after),
                malformed=step.get("malformed", config.malformed),
                latency=float(step.get("latency", config.latency)),
            )
            window = config.status_window
            if window and time.monotonic() >= window["until"]:
                window = config.status_window = None
            if config.status is not None:
                outcome.status = config.status
            elif "status" in step:
                outcome.status = int(step["status"])
            elif window:
                outcome.status = window["status"]
                outcome.retry_after = window["retry_after"]
            elif config.error_rate and self.rng.random() < config.error_rate:
                outcome.status = config.error_status
            elif model not in config.models:
                outcome.status, outcome.error_code = 404, "model_not_found"
            elif wants_json_mode and config.reject_response_format:
                outcome.status = 400
            return outcome

    def record(self, *, entry: dict[str, Any], tokens_in: int, tokens_out: int) -> None:
        with self.lock:
            self.by_status[str(entry["status"])] += 1
            self.by_kind[entry["kind"]] += 1
            self.tokens_in += tokens_in
            self.tokens_out += tokens_out
            self.requests.append(entry)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": sum(self.by_status.values()),
                "by_status": dict(self.by_status),
                "by_kind": dict(self.by_kind),
                "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out,
                "models_calls": self.models_calls,
                "script_left": len(self.config.script),
                "config": asdict(self.config),
            }


class _FakeHTTPServer(ThreadingHTTPServer):
    # Handler threads may be sleeping out a configured latency; never wait for them on stop.
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, quiet: bool = True) -> None:
        super().__init__(address, _Handler)
        self.state = _FakeState()
        self.quiet = quiet


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real endpoints, so pooling is exercised
    # Replies go out as two writes; without this each call waits ~40 ms on delayed ACKs.
    disable_nagle_algorithm = True
    server: _FakeHTTPServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        state = self.server.state
        if path == "/_stats":
            self._send_json(200, state.stats())
        elif path == "/_requests":
            with state.lock:
                self._send_json(200, {"requests": list(state.requests)})
        elif path == "/v1/models":
            with state.lock:
                state.models_calls += 1
                models, authorised = list(state.config.models), self._authorised()
            if not authorised:
                self._send_error(401, "Incorrect API key provided.", code="invalid_api_key")
                return
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"no route for GET {path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            body = json.loads(self._read_body() or b"{}")
        except ValueError:
            self._send_error(400, "request body is not JSON")
            return
        if path == "/_control":
            try:
                self.server.state.configure(body)
            except (ValueError, TypeError, KeyError) as exc:
                self._send_error(400, str(exc))
                return
            self._send_json(200, self.server.state.stats())
        elif path == "/v1/chat/completions":
            self._chat_completion(body)
        else:
            self._send_error(404, f"no route for POST {path}")

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _chat_completion(self, body: dict[str, Any]) -> None:
        state = self.server.state
        model = str(body.get("model", ""))
        messages = body.get("messages") or []
        with state.lock:
            authorised = self._authorised()
        outcome = state.decide(
            model=model, authorised=authorised, wants_json_mode="response_format" in body
        )
        blocks = judge_rules.data_blocks(messages)
        kind = judge_rules.task_kind(blocks)
        tokens_in = _estimate_tokens(messages)
        content, tokens_out = None, 0
        if outcome.status == 200:
            with state.lock:
                position_bias = state.config.position_bias
                omit_usage = state.config.omit_usage
            good = judge_rules.verdict(kind=kind, blocks=blocks, position_bias=position_bias)
            content = (
                judge_rules.malformed_content(kind=kind, malformed=outcome.malformed, good=good)
                if outcome.malformed
                else json.dumps(good)
            )
            tokens_out = max(1, math.ceil(len(content) / 4))
        else:
            tokens_in = 0
        state.record(
            entry={
                "status": outcome.status,
                "kind": kind,
                "model": model,
                "messages": messages,
                "response_format": body.get("response_format"),
                "max_tokens": body.get("max_tokens"),
                "temperature": body.get("temperature"),
                "content": content,
            },
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )
        if outcome.latency > 0 and state.stopping.wait(outcome.latency):
            return
        if outcome.status != 200:
            self._send_error(
                outcome.status,
                _error_message(outcome.status, model),
                code=outcome.error_code,
                retry_after=outcome.retry_after,
            )
            return
        reply: dict[str, Any] = {
            "id": f"chatcmpl-fake-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
        if not omit_usage:
            reply["usage"] = {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            }
        self._send_json(200, reply)

    def _authorised(self) -> bool:
        required = self.server.state.config.api_key
        return required is None or self.headers.get("Authorization") == f"Bearer {required}"

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | str | None = None,
    ) -> None:
        error_type = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
        headers = {} if retry_after is None else {"Retry-After": _header_value(retry_after)}
        self._send_json(status, body, headers=headers)

    def _send_json(
        self, status: int, payload: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout is shorter than our latency); that is the point.
            self.close_connection = True


def _estimate_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(4 + math.ceil(len(str(m.get("content") or "")) / 4) for m in messages)


def _header_value(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def _error_message(status: int, model: str) -> str:
    messages = {
        400: "Invalid request: 'response_format' is not supported by this endpoint.",
        401: "Incorrect API key provided.",
        403: "You are not allowed to use this model.",
        404: f"The model `{model}` does not exist or you do not have access to it.",
        429: "Rate limit reached for requests.",
    }
    return messages.get(status, "The server had an error while processing your request.")


class FakeOpenAI:
    """Handle on a fake server, in this process (``start``) or another one (``connect``)."""

    def __init__(self, url: str, *, server: _FakeHTTPServer | None = None) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        self._server = server
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(base_url=self.url, timeout=10.0)

    @classmethod
    def start(cls, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Self:
        server = _FakeHTTPServer((host, port))
        handle = cls(f"http://{host}:{server.server_address[1]}", server=server)
        handle._thread = threading.Thread(
            target=server.serve_forever, name="fake-openai", daemon=True
        )
        handle._thread.start()
        if config:
            handle.configure(**config)
        return handle

    @classmethod
    def connect(cls, url: str) -> Self:
        return cls(url)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def configure(self, **changes: Any) -> dict[str, Any]:
        response = self._http.post("/_control", json=changes)
        response.raise_for_status()
        return response.json()

    def reset(self, **changes: Any) -> dict[str, Any]:
        return self.configure(reset=True, **changes)

    def stats(self) -> dict[str, Any]:
        response = self._http.get("/_stats")
        response.raise_for_status()
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        response = self._http.get("/_requests")
        response.raise_for_status()
        return response.json()["requests"]

    def stop(self) -> None:
        self._http.close()
        if self._server is None:
            return
        self._server.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake OpenAI-compatible judge server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    server = _FakeHTTPServer((args.host, args.port), quiet=not args.verbose)
    server.state.configure({"latency": args.latency, "api_key": args.api_key})
    # Exit cleanly on SIGTERM as on Ctrl-C so process managers can stop the demo server.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"JUDGE_LLM_BASE_URL=http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.state.stopping.set()
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
