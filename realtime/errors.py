"""Every HTTP error answers JSON `{"detail": ...}` saying what was wrong: the
views Django calls for 400/403/404/500, and a middleware for the error
responses that come from elsewhere (a 405 from the API router, say)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db import DatabaseError, IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware

JSON = "application/json"
# Seconds a client should wait before retrying while the database is away.
DATABASE_RETRY_AFTER = 5

logger = logging.getLogger("realtime.database")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, DisallowedHost):
        return JsonResponse({"detail": "Host header is not one of ALLOWED_HOSTS"}, status=400)
    if isinstance(exception, RequestDataTooBig):
        return body_too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return JsonResponse({"detail": "bad request"}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "forbidden"}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    # Django's resolver passes a dict of tried patterns, a view passes its own words.
    said = exception.args[0] if exception is not None and exception.args else None
    detail = said if isinstance(said, str) and said else f"no such path: {request.path}"
    return JsonResponse({"detail": detail}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "server error"}, status=500)


def body_too_large(limit: int) -> JsonResponse:
    return JsonResponse({"detail": f"request body larger than {limit} bytes"}, status=413)


def api_root(request: HttpRequest) -> JsonResponse:
    """`/api/` itself is no resource: point the reader to the operations."""
    base = request.path.rstrip("/")
    return JsonResponse(
        {
            "detail": f"no resource at {request.path}: the API's operations are listed at "
            f"{base}/docs (OpenAPI schema: {base}/openapi.json)",
            "docs": f"{base}/docs",
            "schema": f"{base}/openapi.json",
        },
        status=404,
    )


def websocket_only(request: HttpRequest) -> JsonResponse:
    """A plain HTTP request to the WebSocket endpoint: say how to connect."""
    response = JsonResponse(
        {"detail": "this is a WebSocket endpoint: connect with a WebSocket client"}, status=426
    )
    response["Upgrade"] = "websocket"
    return response


def _as_json(response: HttpResponse) -> HttpResponse:
    if response.status_code < 400 or response.get("Content-Type", "").startswith(JSON):
        return response
    replacement = JsonResponse(
        {"detail": response.reason_phrase.lower()}, status=response.status_code
    )
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in response:
            replacement[name] = response[name]
    return replacement


@sync_and_async_middleware
def json_errors(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Rewrites a non-JSON 4xx/5xx into `{"detail": <its reason>}`, keeping its headers."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _as_json(await get_response(request))

        return middleware

    def sync_middleware(request: HttpRequest) -> HttpResponse:
        return _as_json(get_response(request))

    return sync_middleware


def retry_later(status: int, detail: str, seconds: int) -> JsonResponse:
    """A refusal the client should retry after `seconds` (a 429 or a 503)."""
    response = JsonResponse({"detail": detail}, status=status)
    response["Retry-After"] = str(seconds)
    return response


class DatabaseUnavailable:
    """A view that fails because the database is away answers 503 with
    Retry-After and one WARNING line (repeats are held back by the log's
    repeat filter), not a 500 with an ERROR traceback per request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return self.answer(exception)

    @staticmethod
    def answer(exception: Exception) -> HttpResponse | None:
        # An IntegrityError is a bug or a race in the caller, not an outage.
        if not isinstance(exception, DatabaseError) or isinstance(exception, IntegrityError):
            return None
        logger.warning("database unavailable: %s", type(exception).__name__)
        return retry_later(503, "database unavailable", DATABASE_RETRY_AFTER)
