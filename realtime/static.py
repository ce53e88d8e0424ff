"""Static files served by the app itself (daphne serves none): the Swagger UI
behind `/api/docs` and whatever else the installed apps ship, through
WhiteNoise, with its caching headers. WhiteNoise's middleware is synchronous;
this wrapper answers a static path at once and lets every other request pass
without a thread hop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware


@sync_and_async_middleware
def static_files(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    # Every file the apps ship is listed once, at start (WHITENOISE_AUTOREFRESH off).
    whitenoise = WhiteNoiseMiddleware(get_response)
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            found = whitenoise.files.get(request.path_info)
            if found is not None:
                response: HttpResponse = whitenoise.serve(found, request)
                return response
            answer: HttpResponse = await get_response(request)
            return answer

        return middleware

    def sync_middleware(request: HttpRequest) -> HttpResponse:
        response: HttpResponse = whitenoise(request)
        return response

    return sync_middleware
