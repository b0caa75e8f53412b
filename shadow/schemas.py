"""Request and response bodies of the ingestion API (SPEC §2).

Request bodies are plain pydantic models: ninja's Schema adds an ORM-aware wrapper to every
nested object, which costs ~8x on large batches.
"""

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import BaseModel, Field, field_validator, model_validator

NUL = "\x00"
NUL_MESSAGE = "NUL characters (\\u0000) are not allowed"


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def nul_errors(batch: "InteractionBatchIn") -> list[dict]:
    """PostgreSQL text cannot hold NUL, so such values are refused with their place named.

    Called only when the raw body contains an escaped NUL, keeping the common path fast.
    """
    errors = []
    for index, item in enumerate(batch.interactions):
        for name in ("id", "agent", "user", "conversation", "input", "metadata"):
            if _contains_nul(getattr(item, name)):
                errors.append({"index": index, "field": name, "message": NUL_MESSAGE})
        for r_index, resp in enumerate(item.responses):
            for name in ("version", "output", "error"):
                if _contains_nul(getattr(resp, name)):
                    field = f"responses.{r_index}.{name}"
                    errors.append({"index": index, "field": field, "message": NUL_MESSAGE})
    return errors


class ResponseIn(BaseModel):
    version: str = Field(min_length=1, max_length=200)
    served: bool
    output: str | None = ""
    latency_ms: int | None = Field(default=None, ge=0, le=86_400_000)
    tokens_in: int | None = Field(default=None, ge=0, le=2_000_000_000)
    tokens_out: int | None = Field(default=None, ge=0, le=2_000_000_000)
    cost_usd: float | None = Field(default=None, ge=0, le=1_000_000)
    error: str | None = None


class InteractionIn(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    agent: str = Field(min_length=1, max_length=64)
    timestamp: datetime | None = None
    user: str | None = Field(default=None, max_length=500)
    conversation: str | None = Field(default=None, max_length=200)
    input: str | None = ""
    opt_out: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    responses: list[ResponseIn] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _one_served_and_distinct_versions(self) -> "InteractionIn":
        served = [i for i, r in enumerate(self.responses) if r.served]
        if len(served) > 1:
            raise ValueError("at most one response may be served (shown to the user)")
        names = [r.version for r in self.responses]
        if len(set(names)) != len(names):
            raise ValueError("each version may answer an interaction only once")
        return self


class InteractionBatchIn(BaseModel):
    interactions: list[InteractionIn]


class IngestResult(Schema):
    accepted: int
    duplicates: int


class FeedbackIn(BaseModel):
    interaction: str = Field(min_length=1, max_length=200)
    agent: str = Field(min_length=1, max_length=64)
    score: Literal[-1, 0, 1]
    comment: str = Field(default="", max_length=10_000)

    @field_validator("interaction", "agent", "comment")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if NUL in value:
            raise ValueError(NUL_MESSAGE)
        return value


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
