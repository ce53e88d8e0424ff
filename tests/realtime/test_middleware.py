"""Django's security and common middleware run their hooks on the event loop
under ASGI, with the same effect as Django's own (realtime/middleware.py)."""

from __future__ import annotations

import asyncio
import threading

from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import AsyncClient, RequestFactory, override_settings

from realtime.middleware import common, on_the_loop, security


class RecordingSecurity(SecurityMiddleware):
    threads: list[int] = []

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        self.threads.append(threading.get_ident())
        return super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        self.threads.append(threading.get_ident())
        return super().process_response(request, response)


def test_in_an_async_stack_the_hooks_run_on_the_loop_and_set_their_headers() -> None:
    """Both hooks run on the loop's own thread, and the security headers are set."""
    views: list[int] = []

    async def view(request: HttpRequest) -> HttpResponse:
        views.append(threading.get_ident())
        return HttpResponse("ok")

    RecordingSecurity.threads = []
    response = asyncio.run(on_the_loop(RecordingSecurity)(view)(RequestFactory().get("/x")))
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert RecordingSecurity.threads == views * 2


@override_settings(SECURE_SSL_REDIRECT=True)
def test_a_redirect_from_the_request_hook_answers_without_the_view() -> None:
    """SECURE_SSL_REDIRECT's 301 comes from the request hook; the view is not called."""
    called: list[HttpRequest] = []

    async def view(request: HttpRequest) -> HttpResponse:
        called.append(request)
        return HttpResponse("ok")

    response = asyncio.run(security(view)(RequestFactory().get("/x")))
    assert (response.status_code, response["Location"]) == (301, "https://testserver/x")
    assert called == []


def test_the_common_hooks_run_inline_too() -> None:
    """CommonMiddleware's response hook sets Content-Length on the loop."""

    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("four")

    response = asyncio.run(common(view)(RequestFactory().get("/x")))
    assert response["Content-Length"] == "4"


def test_in_a_sync_stack_it_is_djangos_middleware_itself() -> None:
    """Without an event loop there is no hop to save: Django's class runs as it is."""

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    middleware = security(view)
    assert isinstance(middleware, SecurityMiddleware)
    assert middleware(RequestFactory().get("/x"))["X-Content-Type-Options"] == "nosniff"


async def test_every_answer_through_the_asgi_stack_carries_the_security_headers() -> None:
    """A request through the server's whole middleware stack, as ASGI, gets them."""
    response = await AsyncClient().get("/health/live")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
