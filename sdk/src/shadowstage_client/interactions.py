"""What the recorder ships: one user input with the answers of one or more versions (SPEC §2)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

NUL = "\x00"


def new_interaction_id() -> str:
    return f"req-{uuid.uuid4().hex}"


@dataclass(slots=True)
class Answer:
    """What an agent function may return to report usage next to its text."""

    output: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None

    def __str__(self) -> str:
        return self.output


@dataclass(slots=True)
class Response:
    version: str
    served: bool
    output: str | None = ""
    latency_ms: int | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    error: str | None = None

    @classmethod
    def from_result(cls, *, version: str, served: bool, result: Any, latency_ms: int) -> Response:
        if isinstance(result, Answer):
            return cls(
                version=version,
                served=served,
                output=result.output,
                latency_ms=latency_ms,
                tokens_in=result.tokens_in,
                tokens_out=result.tokens_out,
                cost_usd=result.cost_usd,
            )
        output = result if isinstance(result, str) else ("" if result is None else str(result))
        return cls(version=version, served=served, output=output, latency_ms=latency_ms)

    def to_json(self, *, opt_out: bool) -> dict[str, Any]:
        return {
            "version": self.version,
            "served": self.served,
            "output": "" if opt_out else _clean(self.output),
            "latency_ms": self.latency_ms,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "error": _clean(self.error) if self.error else None,
        }


@dataclass(slots=True)
class Interaction:
    """One user input. `id` is the idempotency key: re-sending it never stores a second row."""

    input: str | None
    responses: list[Response]
    user: str | None = None
    id: str = field(default_factory=new_interaction_id)
    conversation: str | None = None
    opt_out: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime | None = None

    def to_json(self, *, agent: str, recorded_at: float) -> dict[str, Any]:
        when = self.timestamp or datetime.fromtimestamp(recorded_at, tz=UTC)
        # An opted-out user's text never leaves the process, whatever the server would keep.
        return {
            "id": self.id,
            "agent": agent,
            "timestamp": when.isoformat(),
            "user": None if self.opt_out else self.user,
            "conversation": None if self.opt_out else self.conversation,
            "input": "" if self.opt_out else _clean(self.input),
            "opt_out": self.opt_out,
            "metadata": {} if self.opt_out else dict(self.metadata),
            "responses": [r.to_json(opt_out=self.opt_out) for r in self.responses],
        }


def payload_for(item: Interaction | Mapping[str, Any], *, agent: str, recorded_at: float) -> dict:
    """The JSON object of one interaction; plain dicts get the same defaults as dataclasses."""
    if isinstance(item, Interaction):
        return item.to_json(agent=agent, recorded_at=recorded_at)
    data = dict(item)
    data.setdefault("agent", agent)
    data.setdefault("id", new_interaction_id())
    if not data.get("timestamp"):
        data["timestamp"] = datetime.fromtimestamp(recorded_at, tz=UTC).isoformat()
    elif isinstance(data["timestamp"], datetime):
        data["timestamp"] = data["timestamp"].isoformat()
    if isinstance(data.get("input"), str):
        data["input"] = _clean(data["input"])
    opt_out = bool(data.get("opt_out"))
    data["responses"] = [
        r.to_json(opt_out=opt_out) if isinstance(r, Response) else r
        for r in data.get("responses") or []
    ]
    return data


def _clean(text: str | None) -> str:
    # The API refuses NUL characters; replacing them keeps the rest of a batch deliverable.
    if not text:
        return ""
    return text.replace(NUL, "\ufffd") if NUL in text else text
