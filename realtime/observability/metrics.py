"""Prometheus metrics (docs/operations.md). Under `realtime serve --workers N`
prometheus-client's multiprocess mode adds up every worker's: gauges of
counts sum over the live workers, and each worker's state is a series of its
own (a `pid` label)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Every connection series has a `transport` label: websocket or sse.
TRANSPORTS = ("websocket", "sse")

OPEN_CONNECTIONS = Gauge(
    "ws_connections_open",
    "Connections open now (WebSocket and Server-Sent Events)",
    ["transport"],
    multiprocess_mode="livesum",
)
CONNECTIONS_CLOSED = Counter(
    "ws_connections_total",
    "Connections closed, by close code and by who closed (client, server, network)",
    ["code", "by", "transport"],
)
MESSAGES_SENT = Counter("ws_messages_sent_total", "Frames sent to clients", ["transport"])
MESSAGES_RECEIVED = Counter("ws_messages_received_total", "Frames received from clients")
SEND_FAILURES = Counter(
    "ws_send_failures_total", "Sends that failed and closed the connection", ["transport"]
)
HEARTBEAT_TIMEOUTS = Counter(
    "ws_heartbeat_timeouts_total",
    "Connections closed with 4408 (nothing received, or nothing the client took, in time)",
    ["transport"],
)
SLOW_CONSUMER_CLOSES = Counter(
    "ws_slow_consumer_closes_total", "Connections closed with 4409", ["transport"]
)
RESUME_REPLAYS = Counter(
    "ws_resume_replays_total", "Resumes served from the event log", ["transport"]
)
REPLAYED_EVENTS = Counter("ws_replayed_events_total", "Events sent by resumes", ["transport"])
for _transport in TRANSPORTS:
    OPEN_CONNECTIONS.labels(transport=_transport)
    MESSAGES_SENT.labels(transport=_transport)
REPAIRED_EVENTS = Counter(
    "ws_repaired_events_total", "Events the hub read from the database after a channel-layer gap"
)
DELIVERY_LAG = Histogram(
    "ws_delivery_lag_seconds",
    "Time from publish to dispatch by the hub",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAYER_ERRORS = Counter(
    "channel_layer_errors_total", "Channel-layer calls that failed or were refused", ["operation"]
)
# Every operation's series exists from the start, at 0, so a rate over it
# (and an alert on it) has something to read before the first failure.
for _operation in ("publish", "receive", "group_add"):
    LAYER_ERRORS.labels(operation=_operation)
GROUP_MEMBERS = Gauge(
    "ws_group_members",
    "Connections' memberships of mine, order and all groups",
    multiprocess_mode="livesum",
)
BREAKER_STATE = Gauge(
    "channel_layer_breaker_state",
    "Channel-layer circuit breaker: 0 closed, 1 open, 2 half-open",
    multiprocess_mode="liveall",
)
READY = Gauge(
    "ws_ready",
    "1 when the last readiness check answered 200, 0 when it answered 503",
    multiprocess_mode="liveall",
)
DEGRADED = Gauge(
    "ws_degraded",
    "1 while the last readiness check answered 200 degraded (Redis away: deliveries "
    "go through the database)",
    multiprocess_mode="liveall",
)
