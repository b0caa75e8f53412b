"""Request and response bodies of the ingestion API (SPEC §2)."""

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, field_validator, model_validator

NUL = "\x00"


def _reject_nul(value: Any) -> Any:
    if isinstance(value, str) and NUL in value:
        raise ValueError("NUL characters (\\u0000) are not allowed")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    if isinstance(value, list):
        for item in value:
            _reject_nul(item)
    return value


class ResponseIn(Schema):
    version: str = Field(min_length=1, max_length=200)
    served: bool
    output: str | None = ""
    latency_ms: int | None = Field(default=None, ge=0, le=86_400_000)
    tokens_in: int | None = Field(default=None, ge=0, le=2_000_000_000)
    tokens_out: int | None = Field(default=None, ge=0, le=2_000_000_000)
    cost_usd: float | None = Field(default=None, ge=0, le=1_000_000)
    error: str | None = None

    _no_nul = field_validator("version", "output", "error")(_reject_nul)


class InteractionIn(Schema):
    id: str = Field(min_length=1, max_length=200)
    agent: str = Field(min_length=1, max_length=64)
    timestamp: datetime | None = None
    user: str | None = Field(default=None, max_length=500)
    conversation: str | None = Field(default=None, max_length=200)
    input: str | None = ""
    opt_out: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    responses: list[ResponseIn] = Field(min_length=1, max_length=20)

    _no_nul = field_validator("id", "agent", "user", "conversation", "input", "metadata")(
        _reject_nul
    )

    @model_validator(mode="after")
    def _one_served_and_distinct_versions(self) -> "InteractionIn":
        served = [i for i, r in enumerate(self.responses) if r.served]
        if len(served) > 1:
            raise ValueError("at most one response may be served (shown to the user)")
        names = [r.version for r in self.responses]
        if len(set(names)) != len(names):
            raise ValueError("each version may answer an interaction only once")
        return self


class InteractionBatchIn(Schema):
    interactions: list[InteractionIn]


class IngestResult(Schema):
    accepted: int
    duplicates: int


class FeedbackIn(Schema):
    interaction: str = Field(min_length=1, max_length=200)
    agent: str = Field(min_length=1, max_length=64)
    score: Literal[-1, 0, 1]
    comment: str = Field(default="", max_length=10_000)

    _no_nul = field_validator("interaction", "agent", "comment")(_reject_nul)


class FeedbackResult(Schema):
    recorded: bool
    flagged: bool


class ErasureResult(Schema):
    deleted: int


class ErrorItem(Schema):
    index: int | None = None
    field: str
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[ErrorItem] = []
