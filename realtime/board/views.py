"""Serves the board's page and modules from this package, with no build step
and no static-files server to configure."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest

STATIC = Path(__file__).parent / "static" / "board"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def _serve(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or path.suffix not in TYPES or not path.is_file():
        raise Http404("no such board file")
    response = FileResponse(path.open("rb"), content_type=TYPES[path.suffix])
    response["Cache-Control"] = "no-cache"
    return response


def index(request: HttpRequest) -> FileResponse:
    """The page, which may run only its own modules and styles, talk only to
    this server, never be framed (its buttons change orders) and never send
    its URL, which may hold `?token=`, as a Referer."""
    response = _serve("index.html")
    host = request.get_host()
    response["Content-Security-Policy"] = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    response["X-Frame-Options"] = "DENY"
    response["Referrer-Policy"] = "no-referrer"
    return response


def asset(request: HttpRequest, name: str) -> FileResponse:
    return _serve(name)


def favicon(request: HttpRequest) -> FileResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the API docs)."""
    return _serve("favicon.svg")
