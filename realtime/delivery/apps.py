from __future__ import annotations

from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "realtime.delivery"
    label = "delivery"

    def ready(self) -> None:
        from realtime.delivery.publisher import on_event_committed
        from realtime.orders.signals import event_committed

        event_committed.connect(on_event_committed, dispatch_uid="realtime.delivery.publish")
