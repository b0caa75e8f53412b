"""The JSON API v1: one NinjaAPI, routers from each app, errors in one shape."""

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from shadow.api import BatchRejected, RateCapped
from shadow.api import router as shadow_router
from shadow.auth import ApiKeyAuth

api = NinjaAPI(
    title="Shadowstage API",
    version="1",
    description="Log production and shadow answers, route users, read gates and comparisons.",
    auth=ApiKeyAuth(),
    urls_namespace="api-v1",
)


def _field_errors(errors: list[dict]) -> list[dict]:
    out = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part not in ("body", "payload", "query")]
        index = None
        if len(loc) >= 2 and loc[0] == "interactions" and isinstance(loc[1], int):
            index = loc[1]
            loc = loc[2:]
        message = error.get("msg", "invalid value").removeprefix("Value error, ")
        out.append(
            {"index": index, "field": ".".join(str(p) for p in loc) or "body", "message": message}
        )
    return out


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError):
    errors = _field_errors(exc.errors)
    detail = "invalid request body: nothing from this batch was stored"
    if errors and errors[0]["field"] == "body" and "JSON" in errors[0]["message"]:
        detail = "request body is not valid JSON"
    return api.create_response(request, {"detail": detail, "errors": errors}, status=422)


@api.exception_handler(BatchRejected)
def on_batch_rejected(request: HttpRequest, exc: BatchRejected):
    return api.create_response(
        request, {"detail": exc.detail, "errors": exc.errors}, status=exc.status
    )


@api.exception_handler(RateCapped)
def on_rate_capped(request: HttpRequest, exc: RateCapped):
    response = api.create_response(
        request,
        {
            "detail": f"rate cap reached for this API key; retry in {exc.retry_after} s",
            "errors": [],
        },
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(
        request,
        {
            "detail": "missing, unknown or revoked API key (Authorization: Bearer <key>)",
            "errors": [],
        },
        status=401,
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError):
    detail = str(exc)
    if detail.startswith("Cannot parse request body"):
        detail = "request body is not valid JSON"
    return api.create_response(request, {"detail": detail, "errors": []}, status=exc.status_code)


api.add_router("/", shadow_router)


def _mount_optional_routers() -> None:
    """Each app contributes its endpoints by exposing `router` in its api module."""
    from importlib import import_module

    for module in (
        "rollouts.api",
        "evaluations.api",
        "rollouts.events_api",
        "evaluations.comparison_api",
    ):
        try:
            router = import_module(module).router
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        api.add_router("/", router)


_mount_optional_routers()
