"""A real local HTTP server that receives Shadowstage webhooks and records them.

Runs in a thread of the test process, on 127.0.0.1; a Celery worker in another process posts
to it. Behaviour per path is scripted from the test:

    with WebhookReceiver.start() as receiver:
        receiver.configure(status=503)                    # every path answers 503
        receiver.configure(path="/slow", delay=30)        # only /slow sleeps 30 s
        receiver.configure(path="/flaky", script=[503, 503])  # two 503s, then the default
        receiver.requests("/flaky")                       # what arrived, in order
        receiver.stop(); receiver.restart()               # down, then back on the same port

Standalone, verifying signatures (for the demo in docs/events.md):

    python -m tests.fakes.webhook_receiver --port 9000 --secret whsec_...
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request arrived

    def json(self) -> dict:
        return json.loads(self.body)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class _Rule:
    status: int = 200
    delay: float = 0.0
    script: list[int] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        status, delay = receiver._arrive(
            Received(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                at=time.monotonic(),
            )
        )
        if delay:
            time.sleep(delay)
        reply = json.dumps({"status": status}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); that is the point of a slow receiver

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature fixed
        if self.server.receiver.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    receiver: WebhookReceiver

    def handle_error(self, request, client_address) -> None:
        """Clients closing kept-alive or timed-out connections are normal here."""


class WebhookReceiver:
    def __init__(self, *, port: int = 0, verbose: bool = False) -> None:
        self.port = port
        self.verbose = verbose
        self._lock = threading.Lock()
        self._rules: dict[str | None, _Rule] = {None: _Rule()}
        self._received: list[Received] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def start(cls, *, port: int = 0, verbose: bool = False) -> Self:
        return cls(port=port, verbose=verbose).restart()

    def restart(self) -> Self:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.receiver = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: new connections are refused until restart()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- behaviour -----------------------------------------------------------------------------

    def configure(
        self,
        *,
        path: str | None = None,
        status: int | None = None,
        delay: float | None = None,
        script: list[int] | None = None,
    ) -> None:
        """Set how `path` (or every path without its own rule) answers."""
        with self._lock:
            rule = self._rules.setdefault(path, _Rule(**vars(self._rules[None])))
            if status is not None:
                rule.status = status
            if delay is not None:
                rule.delay = delay
            if script is not None:
                rule.script = list(script)

    def _arrive(self, request: Received) -> tuple[int, float]:
        with self._lock:
            self._received.append(request)
            rule = self._rules.get(request.path.split("?")[0], self._rules[None])
            status = rule.script.pop(0) if rule.script else rule.status
            return status, rule.delay

    # --- what arrived --------------------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path.split("?")[0] == path]

    def count(self, path: str | None = None) -> int:
        return len(self.requests(path))


def _verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """The receiver side of the signature, as documented in docs/events.md."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if not parts.get("t", "").isdigit() or abs(time.time() - int(parts["t"])) > tolerance:
        return False
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive and verify Shadowstage webhooks.")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", default="", help="verify X-Shadowstage-Signature with it")
    args = parser.parse_args()
    receiver = WebhookReceiver.start(port=args.port)
    print(f"listening on {receiver.url}", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for request in receiver.requests()[seen:]:
                seen += 1
                verdict = ""
                if args.secret:
                    signature = request.header("X-Shadowstage-Signature")
                    ok = _verify(args.secret, request.body, signature)
                    verdict = " signature ok" if ok else " SIGNATURE INVALID"
                print(
                    f"{request.header('X-Shadowstage-Event')} "
                    f"{request.header('X-Shadowstage-Delivery')}{verdict} {request.body.decode()}",
                    flush=True,
                )
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
