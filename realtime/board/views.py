"""Serves the board's page and modules from this package, with no build step
and no static-files server to configure."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest

STATIC = Path(__file__).parent / "static" / "board"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


def _serve(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or path.suffix not in TYPES or not path.is_file():
        raise Http404("no such board file")
    response = FileResponse(path.open("rb"), content_type=TYPES[path.suffix])
    response["Cache-Control"] = "no-cache"
    return response


def index(request: HttpRequest) -> FileResponse:
    return _serve("index.html")


def asset(request: HttpRequest, name: str) -> FileResponse:
    return _serve(name)
