"""`/api/orders/1` and `/api/orders/1/`, `/metrics` and `/metrics/` are the
same resource: a path that resolves only with (or only without) its trailing
slash is served as if it were written so, instead of Django's empty 301
(which drops a PATCH body on the way) or a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.decorators import sync_and_async_middleware


def _mend_slash(request: HttpRequest) -> None:
    path = request.path_info
    if path == "/":
        return
    other = path.rstrip("/") if path.endswith("/") else f"{path}/"
    for candidate in (path, other):
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
            _mend_slash(request)
            response: HttpResponse = await get_response(request)
            return response

        return middleware

    def sync_middleware(request: HttpRequest) -> HttpResponse:
        _mend_slash(request)
        response: HttpResponse = get_response(request)
        return response

    return sync_middleware
