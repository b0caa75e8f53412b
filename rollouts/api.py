"""Routing and gate endpoints (SPEC §2): what SDKs poll, and what Argo/Flagger ask."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from rollouts.gates import PASS, gate_evaluate
from rollouts.selectors import rollout_for_agent
from shadow.auth import require_agent, require_scope
from shadow.schemas import ErrorOut

router = Router(tags=["rollouts"])


class RoutingOut(Schema):
    agent: str
    production: str | None
    candidate: str | None
    candidate_percent: int
    shadow_percent: int
    salt: str
    revision: int
    updated_at: str | None


class GateCheckOut(Schema):
    name: str
    status: str
    value: float | None
    threshold: float | None
    detail: str
    blocking: bool = True
    n: int | None = None
    lower: float | None = None
    upper: float | None = None


class GateOut(Schema):
    status: str
    checks: list[GateCheckOut]
    sample_size: int
    evaluated_at: str
    warnings: list[str] = []


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match may list several tags, weak or not, quoted or not, or be '*'."""
    for candidate in header.split(","):
        tag = candidate.strip().removeprefix("W/").strip('"')
        if tag == "*" or tag == etag.strip('"'):
            return True
    return False


def _rollout_of(request: HttpRequest, slug: str, scope: str):
    key = require_scope(request, scope)
    agent = require_agent(key, slug)
    rollout = rollout_for_agent(agent=agent)
    if rollout is None:
        raise HttpError(404, f"agent '{slug}' has no rollout yet: log some traffic first")
    return rollout


@router.get(
    "/agents/{slug}/routing",
    response={200: RoutingOut, 304: None, 403: ErrorOut, 404: ErrorOut},
    summary="Which version serves which users (poll with If-None-Match)",
)
def get_routing(request: HttpRequest, slug: str, response: HttpResponse):
    rollout = _rollout_of(request, slug, "routing")
    etag = f'"{rollout.revision}"'
    if _etag_matches(request.headers.get("If-None-Match", ""), etag):
        not_modified = HttpResponse(status=304)
        not_modified["ETag"] = etag
        return not_modified
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return rollout.routing_dict()


@router.get(
    "/agents/{slug}/gate",
    response={200: GateOut, 403: ErrorOut, 404: ErrorOut, 412: GateOut},
    summary="Is the candidate safe to promote? (?strict=1: 412 unless pass)",
)
def get_gate(request: HttpRequest, slug: str, strict: bool = False):
    rollout = _rollout_of(request, slug, "read")
    result = gate_evaluate(rollout=rollout).as_dict()
    if strict and result["status"] != PASS:
        return Status(412, result)
    return Status(200, result)
