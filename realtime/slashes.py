"""`/api/orders/1` and `/api/orders/1/` are the same resource: a path that
resolves only with its trailing slash is served as if it had it, instead of
Django's empty 301 (which drops a PATCH body on the way)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.decorators import sync_and_async_middleware

PREFIXES = ("/api/", "/ws/orders")


def _add_slash(request: HttpRequest) -> None:
    path = request.path_info
    if path.endswith("/") or not path.startswith(PREFIXES):
        return
    for candidate in (path, f"{path}/"):
        try:
            resolve(candidate)
        except Resolver404:
            continue
        request.path_info = candidate
        return


@sync_and_async_middleware
def trailing_slash_optional(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            _add_slash(request)
            response: HttpResponse = await get_response(request)
            return response

        return middleware

    def sync_middleware(request: HttpRequest) -> HttpResponse:
        _add_slash(request)
        response: HttpResponse = get_response(request)
        return response

    return sync_middleware
