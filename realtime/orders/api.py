"""The JSON HTTP API (docs/protocol.md), with its OpenAPI schema at /api/docs."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Annotated, Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Path, Schema
from ninja import Status as Reply
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import AfterValidator

from realtime import conf
from realtime.auth import credentials
from realtime.auth.principal import Principal
from realtime.auth.standings import RecentStandings, Standing
from realtime.auth.tokens import TokenError, issue_token, token_for, verify_token
from realtime.buckets import TokenBucket
from realtime.core.protocol import event_frame
from realtime.errors import DatabaseUnavailable, retry_later
from realtime.events import log
from realtime.events.models import ORDER_UPDATE
from realtime.orders import service, signin
from realtime.orders.models import Order
from realtime.orders.states import Status
from realtime.orders.visibility import visible_orders

logger = logging.getLogger("realtime.auth")

MAX_PAGE = 500
# Ids and seqs are 64-bit in every database; a larger number is a client error, not a 500.
MAX_ID = 2**63 - 1

Text = Annotated[str, AfterValidator(service.check_text)]
Id = Annotated[int, Field(ge=0, le=MAX_ID)]


STANDINGS = RecentStandings(ttl=conf.settings.AUTH_RECHECK_INTERVAL)


class BearerAuth(HttpBearer):
    """A valid token of an active user; staff comes from the database (at
    most AUTH_RECHECK_INTERVAL old), not from the token."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        principal = _verified(token)
        if principal is None:
            return None
        return _in_standing(principal, STANDINGS.get(principal.user_id))


class LoopBearerAuth(BearerAuth):
    """BearerAuth for a view on the event loop: a user's standing not
    remembered is looked up in a thread."""

    is_async = True

    async def authenticate(self, request: HttpRequest, token: str) -> Principal | None:  # type: ignore[override]
        principal = _verified(token)
        if principal is None:
            return None
        return _in_standing(principal, await STANDINGS.aget(principal.user_id))


def _verified(token: str) -> Principal | None:
    try:
        return verify_token(token)
    except TokenError:
        return None


def _in_standing(principal: Principal, standing: Standing) -> Principal | None:
    if not standing.active or principal.credential != standing.credential:
        return None
    return dataclasses.replace(principal, staff=standing.staff)


class OrderRate:
    """Orders each customer may create: a burst, then a steady rate (per process)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, TokenBucket] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        self._buckets.clear()

    def retry_after(self, user_id: int) -> int | None:
        """None when one more order is allowed now (and counts it); otherwise seconds to wait."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(user_id)
            if bucket is None:
                if len(self._buckets) >= 100_000:
                    self._buckets.clear()
                bucket = TokenBucket.full(self.rate, now, self.burst / self.rate)
                self._buckets[user_id] = bucket
            return None if bucket.allow(now) else bucket.retry_after()


ORDER_RATE = OrderRate(settings.ORDER_CREATE_RATE, settings.ORDER_CREATE_BURST)


class NotJson(ValueError):
    """A body that is not JSON, with what was sent instead."""


class JsonBodies(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        try:
            return super().parse_body(request)
        except ValueError as exc:
            sent = request.content_type or "no Content-Type"
            said = "the request body must be JSON, sent with Content-Type: application/json"
            if sent != "application/json":
                raise NotJson(f"{said} (this one was {sent})") from exc
            raise NotJson(f"{said}: {exc}") from exc


api = NinjaAPI(
    title="Order updates",
    version="1",
    auth=BearerAuth(),
    urls_namespace="api",
    parser=JsonBodies(),
)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # django-ninja answers an unparsable body with a bare "Cannot parse request body".
    cause = exc.__cause__
    detail = str(cause) if isinstance(cause, NotJson) else str(exc)
    return api.create_response(request, {"detail": detail}, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"detail": "missing, invalid or expired bearer token"}, status=401
    )


@api.exception_handler(DatabaseError)
def database_away(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    # With DEBUG on, django-ninja would answer a traceback before the middleware sees it.
    response = DatabaseUnavailable.answer(exc)
    if response is None:
        raise exc
    return response


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(
        request, {"detail": "invalid request", "errors": exc.errors}, status=422
    )


class TokenIn(Schema):
    username: Text = Field(max_length=150)
    password: Text = Field(max_length=256)


class TokenOut(Schema):
    token: str
    user: str
    staff: bool


class Item(Schema):
    name: Text = Field(min_length=1, max_length=100)
    qty: int = Field(ge=1, le=1000)


class OrderIn(Schema):
    items: list[Item] = Field(min_length=1, max_length=50)
    owner: Text | None = Field(default=None, max_length=150)
    meta: dict[str, Any] | None = None


class OrderPatch(Schema):
    status: Status
    meta: dict[str, Any] | None = None


class OrderOut(Schema):
    id: int
    owner: str
    status: Status
    version: int
    items: list[dict[str, Any]]
    created_at: str
    updated_at: str


class EventOut(Schema):
    seq: int
    order: dict[str, Any]
    published_at: float
    meta: dict[str, Any]


class EventsOut(Schema):
    events: list[EventOut]
    cursor: int
    more: bool


class Message(Schema):
    detail: str


class Refused(Schema):
    """A status change the state machine does not allow."""

    detail: str
    current: Status
    allowed: list[Status]


class Invalid(Schema):
    detail: str
    errors: list[dict[str, Any]] = []


# What any operation may answer: an unparseable body, a missing or bad token,
# a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a request that fails validation,
# the database away.
ERRORS: dict[int, type[Schema]] = {
    400: Message,
    401: Message,
    413: Message,
    422: Invalid,
    503: Message,
}


def check_query(request: HttpRequest, *known: str) -> None:
    """Refuse unknown query parameters, so that a typo (`?sinse=5`) is a 422
    rather than a silently different answer."""
    unknown = sorted(set(request.GET) - set(known))
    if unknown:
        raise ValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ["query", name],
                    "msg": "unknown query parameter",
                }
                for name in unknown
            ]
        )


def principal_of(request: HttpRequest) -> Principal:
    auth = getattr(request, "auth", None)
    assert isinstance(auth, Principal)
    return auth


def _token_reply(token: str, username: str, staff: bool) -> dict[str, Any]:
    return {"token": token, "user": username, "staff": staff}


@api.post("/token/", auth=None, response={200: TokenOut, 429: Message, 503: Message, **ERRORS})
def token(request: HttpRequest, body: TokenIn) -> Reply[dict[str, Any]] | HttpResponse:
    check_query(request)
    # Refused before any password is hashed: a spray from one address, or
    # more sign-ins at once than the process hashes.
    if signin.address_refused(request):
        logger.warning(
            "sign-in refused: too many failures from address=%s", signin.address(request)
        )
        return retry_later(429, "too many failed sign-ins: try again later", settings.LOGIN_LOCKOUT)
    with signin.hashing_turn() as turn:
        if not turn:
            return retry_later(503, "too many sign-ins at once: try again", 1)
        user = authenticate(request, username=body.username, password=body.password)
    if getattr(request, "axes_locked_out", False):
        # django-axes refused, or counted the failure that locks out: the same
        # answer whether or not the username exists.
        logger.warning(
            "sign-in locked out after repeated failures address=%s", signin.address(request)
        )
        return retry_later(429, "too many failed sign-ins: try again later", settings.LOGIN_LOCKOUT)
    if user is None or not user.is_active:
        signin.count_failure(request)
        return Reply(401, {"detail": "wrong username or password"})
    staff = bool(getattr(user, "is_staff", False))
    return Reply(200, _token_reply(token_for(user), user.get_username(), staff))


@api.post("/token/refresh/", response={200: TokenOut, **ERRORS})
def refresh_token(request: HttpRequest) -> Reply[dict[str, Any]]:
    """A fresh token for the caller's valid token, while their user is active,
    their credential unchanged, and their sign-in younger than SESSION_MAX_AGE."""
    check_query(request)
    who = principal_of(request)
    assert who.credential is not None
    assert who.signed_in_at is not None
    fresh = issue_token(
        who.user_id,
        who.username,
        who.staff,
        credential=who.credential,
        signed_in_at=int(who.signed_in_at),
    )
    return Reply(200, _token_reply(fresh, who.username, who.staff))


@api.post("/token/revoke/", response={204: None, **ERRORS})
def sign_out_everywhere(request: HttpRequest) -> Reply[None]:
    """Sign out everywhere: every token of the caller stops working now, and
    every connection of theirs closes with 4401 within AUTH_RECHECK_INTERVAL."""
    check_query(request)
    credentials.sign_out_everywhere(principal_of(request).user_id)
    STANDINGS.clear()
    return Reply(204, None)


@api.get("/orders/", response={200: list[OrderOut], **ERRORS})
def list_orders(
    request: HttpRequest, limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 200, after_id: Id = 0
) -> list[dict[str, Any]]:
    check_query(request, "limit", "after_id")
    who = principal_of(request)
    orders = visible_orders(who.user_id, who.staff).filter(pk__gt=after_id)[:limit]
    return [order.as_dict() for order in orders]


@api.post("/orders/", response={201: OrderOut, 403: Message, 404: Message, 429: Message, **ERRORS})
def create_order(request: HttpRequest, body: OrderIn) -> Reply[dict[str, Any]] | HttpResponse:
    check_query(request)
    who = principal_of(request)
    wait = None if who.staff else ORDER_RATE.retry_after(who.user_id)
    if wait is not None:
        return retry_later(
            429, f"at most {settings.ORDER_CREATE_RATE:g} new orders per second", wait
        )
    owner: AbstractBaseUser | None
    users = get_user_model().objects
    if body.owner is not None and body.owner != who.username:
        if not who.staff:
            return Reply(403, {"detail": "only staff may create orders for another user"})
        owner = users.filter(username=body.owner, is_active=True).first()
        if owner is None:
            return Reply(404, {"detail": f"no such user: {body.owner}"})
    else:
        owner = users.get(pk=who.user_id)
    try:
        order = service.create_order(owner, [item.dict() for item in body.items], body.meta)
    except ValueError as exc:
        return Reply(422, {"detail": str(exc)})
    return Reply(201, order.as_dict())


@api.get("/orders/{order_id}/", response={200: OrderOut, 404: Message, **ERRORS})
def get_order(
    request: HttpRequest, order_id: Annotated[int, Path(ge=0, le=MAX_ID)]
) -> Reply[dict[str, Any]]:
    check_query(request)
    who = principal_of(request)
    order = visible_orders(who.user_id, who.staff).filter(pk=order_id).first()
    if order is None:
        return Reply(404, {"detail": "order not found"})
    return Reply(200, order.as_dict())


OrderId = Annotated[int, Path(ge=0, le=MAX_ID)]
# What the service refuses a change for: answered 404, 409 or 422.
REFUSALS = (Order.DoesNotExist, service.TransitionError, ValueError)


def patch_order(request: HttpRequest, order_id: OrderId, body: OrderPatch) -> Reply[dict[str, Any]]:
    who = _changer(request)
    if _only_cancels(who, body):
        return _not_theirs(visible_orders(who.user_id, who.staff).filter(pk=order_id).exists())
    try:
        # Visibility is checked by the change itself: one query fewer.
        owner = _owner(who)
        return Reply(200, service.change_status(order_id, body.status, body.meta, owner_id=owner))
    except REFUSALS as exc:
        return _refused(exc)


async def apatch_order(
    request: HttpRequest, order_id: OrderId, body: OrderPatch
) -> Reply[dict[str, Any]]:
    """`patch_order` on the event loop."""
    who = _changer(request)
    if _only_cancels(who, body):
        orders = visible_orders(who.user_id, who.staff)
        return _not_theirs(await orders.filter(pk=order_id).aexists())
    try:
        owner = _owner(who)
        return Reply(
            200, await service.achange_status(order_id, body.status, body.meta, owner_id=owner)
        )
    except REFUSALS as exc:
        return _refused(exc)


def _changer(request: HttpRequest) -> Principal:
    check_query(request)
    return principal_of(request)


def _only_cancels(who: Principal, body: OrderPatch) -> bool:
    """Whether this is a customer asking for anything but a cancellation."""
    return not who.staff and body.status != Status.CANCELLED


def _not_theirs(visible: bool) -> Reply[dict[str, Any]]:
    if not visible:
        return Reply(404, {"detail": "order not found"})
    return Reply(403, {"detail": "customers may only cancel their orders"})


def _owner(who: Principal) -> int | None:
    """Whose the order must be: staff may change anyone's."""
    return None if who.staff else who.user_id


def _refused(exc: Exception) -> Reply[dict[str, Any]]:
    if isinstance(exc, Order.DoesNotExist):
        return Reply(404, {"detail": "order not found"})
    if isinstance(exc, service.TransitionError):
        return Reply(409, {"detail": str(exc), "current": exc.current, "allowed": exc.allowed})
    return Reply(422, {"detail": str(exc)})


PATCH_ORDER: dict[str, Any] = {
    "path": "/orders/{order_id}/",
    "response": {200: OrderOut, 403: Message, 404: Message, 409: Refused, **ERRORS},
    "operation_id": "patch_order",
}
# Where the change has a connection pool of its own (PostgreSQL), the view runs
# on the event loop and needs no thread; elsewhere the change needs the
# request's thread anyway, which a synchronous view reaches at less cost
# (docs/architecture.md, "The write path").
if service.changes_on_the_loop():
    api.patch(**PATCH_ORDER, auth=LoopBearerAuth())(apatch_order)
else:
    api.patch(**PATCH_ORDER)(patch_order)


@api.get("/events/", response={200: EventsOut, 409: Message, 410: Message, **ERRORS})
def events(
    request: HttpRequest,
    since: Id = 0,
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> Reply[dict[str, Any]]:
    """Replay over HTTP: the caller's events after `since`, in seq order."""
    check_query(request, "since", "limit")
    who = principal_of(request)
    if since < log.pruned_through():
        return Reply(410, {"detail": "history before this seq is gone: refetch /api/orders/"})
    # Read the head first: every event up to it is committed, so the page covers it.
    latest = log.latest_seq()
    if since > latest:
        # A cursor past the head would make a client skip the events still to come.
        return Reply(409, {"detail": f"since {since} is ahead of the latest seq {latest}"})
    rows = log.events_after(since, user_id=who.user_id, everything=who.staff)
    # The demo's events: order updates (a host's own types are not the demo's).
    page = list(rows.filter(type=ORDER_UPDATE)[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    last = page[-1].seq if page else since
    return Reply(
        200,
        {
            "events": [
                event_frame(
                    row.type,
                    row.seq,
                    row.subject,
                    row.version,
                    row.payload,
                    row.created_at.timestamp(),
                    row.meta,
                )
                for row in page
            ],
            "cursor": last if more else max(latest, last),
            "more": more,
        },
    )
