"""`POST /api/publish/`: `publish()` for backends in other languages
(docs/integrate.md), with the server's API key (REALTIME_API_KEY) as a
bearer token. Each request is one transaction: the event is written, and
sent once it commits, or not at all.

    curl -X POST -H "Authorization: Bearer $REALTIME_API_KEY" \\
         -H 'Content-Type: application/json' \\
         -d '{"subject": 42, "owner": 7, "payload": {"status": "shipped"}}' \\
         http://127.0.0.1:8000/api/publish/
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import DatabaseError, IntegrityError
from django.http import HttpRequest, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from realtime.conf import settings
from realtime.events.publishing import publish

logger = logging.getLogger("realtime.publish")

FIELDS = {"subject", "owner", "payload", "type", "version", "meta"}
RETRY_AFTER = "5"


def answer(status: int, detail: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"detail": detail, **extra}, status=status)
    if status == 503:
        response["Retry-After"] = RETRY_AFTER
    return response


@csrf_exempt
@require_POST
def publish_view(request: HttpRequest) -> JsonResponse:
    key = settings.REALTIME_API_KEY
    if not key:
        return answer(403, "publishing over HTTP is off: set REALTIME_API_KEY on the server")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_compare(given.strip(), key):
        return answer(401, "missing or wrong API key (Authorization: Bearer REALTIME_API_KEY)")
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return answer(400, "the body must be JSON")
    if not isinstance(body, dict):
        return answer(400, "the body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    missing = sorted({"subject", "owner", "payload"} - set(body))
    if unknown or missing:
        said = [f"unknown fields: {', '.join(unknown)}"] if unknown else []
        said += [f"missing fields: {', '.join(missing)}"] if missing else []
        return answer(422, "; ".join(said))
    subject = body.pop("subject")
    try:
        seq = publish(subject, **body)
    except (ValueError, TypeError) as exc:
        return answer(422, str(exc))
    except DatabaseError as exc:
        if isinstance(exc, IntegrityError):
            raise
        logger.warning("database unavailable: %s", type(exc).__name__)
        return answer(503, "database unavailable")
    return answer(201, "published", seq=seq)
