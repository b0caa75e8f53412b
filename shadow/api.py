"""Ingestion endpoints (SPEC §2): interactions, feedback, erasure."""

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status
from ninja.errors import HttpError

from shadow.auth import require_agent, require_scope
from shadow.models import Interaction
from shadow.ratelimit import rate_cap_hit
from shadow.schemas import (
    ErasureResult,
    ErrorOut,
    FeedbackIn,
    FeedbackResult,
    IngestResult,
    InteractionBatchIn,
    nul_errors,
)
from shadow.services import IngestConflict, feedback_record, interactions_ingest, user_data_erase

router = Router(tags=["ingest"])


class RateCapped(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


class BatchRejected(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict]) -> None:
        self.status = status
        self.detail = detail
        self.errors = errors


def _rate_cap(request: HttpRequest) -> None:
    decision = rate_cap_hit(
        key=f"apikey:{request.auth.pk}",  # type: ignore[attr-defined]
        limit=settings.API_RATE_LIMIT_PER_MINUTE,
    )
    if not decision.allowed:
        raise RateCapped(decision.retry_after)


@router.post(
    "/interactions",
    response={202: IngestResult, 400: ErrorOut, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="Log production and shadow responses",
)
def post_interactions(request: HttpRequest, payload: InteractionBatchIn):
    key = require_scope(request, "ingest")
    _rate_cap(request)
    items = payload.interactions
    if not 1 <= len(items) <= settings.API_MAX_BATCH:
        raise BatchRejected(
            400,
            f"a batch holds 1 to {settings.API_MAX_BATCH} interactions; got {len(items)}",
            [{"index": None, "field": "interactions", "message": "batch size out of range"}],
        )
    if b"\\u0000" in request.body:
        nul = nul_errors(payload)
        if nul:
            raise BatchRejected(
                422, "invalid request body: nothing from this batch was stored", nul
            )
    foreign = [
        {"index": i, "field": "agent", "message": f"key belongs to '{key.agent.slug}'"}
        for i, item in enumerate(items)
        if item.agent != key.agent.slug
    ]
    if foreign:
        raise BatchRejected(403, "this API key may only write its own agent's data", foreign)
    try:
        outcome = interactions_ingest(agent=key.agent, items=items)
    except IngestConflict as conflict:
        raise BatchRejected(422, "batch conflicts with stored data", conflict.errors) from None
    return Status(202, {"accepted": outcome.accepted, "duplicates": outcome.duplicates})


@router.post(
    "/feedback",
    response={200: FeedbackResult, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Record a user's thumbs-up or thumbs-down on the served answer",
)
def post_feedback(request: HttpRequest, payload: FeedbackIn):
    key = require_scope(request, "ingest")
    _rate_cap(request)
    agent = require_agent(key, payload.agent)
    try:
        feedback = feedback_record(
            agent=agent,
            external_id=payload.interaction,
            score=payload.score,
            comment=payload.comment,
        )
    except Interaction.DoesNotExist:
        raise HttpError(404, f"no interaction '{payload.interaction}' for this agent") from None
    return {"recorded": True, "flagged": feedback.score < 0}


@router.delete(
    "/users/{user}/data",
    response={200: ErasureResult, 403: ErrorOut},
    summary="Erase every interaction of one user (right to be forgotten)",
)
def delete_user_data(request: HttpRequest, user: str, agent: str):
    key = require_scope(request, "ingest")
    target = require_agent(key, agent)
    return {"deleted": user_data_erase(agent=target, user=user)}
