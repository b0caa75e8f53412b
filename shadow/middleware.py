"""Refuse oversized API bodies before anything parses them."""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse


def _too_large() -> JsonResponse:
    limit_mb = settings.API_MAX_BODY_BYTES // (1024 * 1024)
    return JsonResponse(
        {"detail": f"request body exceeds {limit_mb} MB; send smaller batches", "errors": []},
        status=413,
    )


class ApiBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return _too_large()
            try:
                body = request.body
            except RequestDataTooBig:
                return _too_large()
            if len(body) > settings.API_MAX_BODY_BYTES:
                return _too_large()
        return self.get_response(request)
