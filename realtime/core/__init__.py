"""What every transport of /ws/orders/ and /sse/orders/ shares: one connection's
sans-I/O state, the wire protocol, flow control, heartbeats, limits, replay
turns, revocation, lifecycle lines and the adapter that feeds them
(docs/architecture.md)."""
