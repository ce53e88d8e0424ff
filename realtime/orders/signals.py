"""What the orders app tells the rest of the project, without importing it:
the delivery layer listens (docs/architecture.md)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the commit that wrote an event row, with `row` (an OrderEvent).
event_committed = Signal()
