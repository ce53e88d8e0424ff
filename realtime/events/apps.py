from __future__ import annotations

import sys

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "realtime.events"
    label = "realtime_events"
    verbose_name = "Realtime events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from realtime import conf
        from realtime.auth.credentials import count_deactivation
        from realtime.delivery.publisher import on_event_committed
        from realtime.events.signals import event_committed
        from realtime.observability.logging import ensure_configured

        conf.check()
        if "daphne.server" in sys.modules:
            # Served by daphne, stock or `realtime serve`: its WebSocket
            # closes carry every code and reason the connections give.
            from realtime.daphne.protocol import adapt_stock_daphne

            adapt_stock_daphne()
        event_committed.connect(on_event_committed, dispatch_uid="realtime.delivery.publish")
        user_model = get_user_model()
        if any(field.name == "is_active" for field in user_model._meta.get_fields()):
            pre_save.connect(
                count_deactivation, sender=user_model, dispatch_uid="realtime.auth.deactivation"
            )
        # The package's lines go to websocket.log whoever serves it (realtime
        # serve or stock daphne), unless the host configured them already.
        ensure_configured()
