"""`/sse/orders/`: the order stream as Server-Sent Events, for networks that
refuse WebSocket upgrades, on the same guarantees (docs/protocol.md)."""
