"""`include("realtime.events.urls")` under the prefix of your choice (the demo
uses `api/`): `POST publish/`."""

from __future__ import annotations

from django.urls import path

from realtime.events.views import publish_view

urlpatterns = [path("publish/", publish_view, name="realtime-publish")]
