"""What the event log tells the rest of the package, without importing it:
the delivery layer listens (docs/architecture.md)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the commit that wrote an event row, with `row` (an Event).
event_committed = Signal()
