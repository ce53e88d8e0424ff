"""Django's security and common middleware with their hooks run on the event
loop. Under ASGI Django runs each hook of a `MiddlewareMixin` middleware in a
thread of its own (`sync_to_async`): four thread hops per request for these
two, whose hooks only read the request and set headers (docs/benchmarks.md,
"The write path in one statement")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.decorators import sync_and_async_middleware

Handler = Callable[[HttpRequest], Any]


def on_the_loop(hooks_class: type[SecurityMiddleware | CommonMiddleware]) -> Callable[..., Any]:
    """A middleware factory running `hooks_class`'s request and response hooks
    inline when the stack is asynchronous, and `hooks_class` itself when not."""

    @sync_and_async_middleware
    def middleware(get_response: Handler) -> Handler:
        hooks = hooks_class(get_response)
        if not iscoroutinefunction(get_response):
            return hooks

        async def inline(request: HttpRequest) -> HttpResponseBase:
            response = hooks.process_request(request)
            if response is None:
                response = await get_response(request)
            return hooks.process_response(request, response)

        return inline

    return middleware


security = on_the_loop(SecurityMiddleware)
common = on_the_loop(CommonMiddleware)
