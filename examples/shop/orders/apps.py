from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    label = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders.models import Order
        from realtime import track

        # Every save of an order reaches its customer (and staff), in the
        # save's own transaction.
        track(Order, owner="customer_id", serialize=Order.as_update, version="version")
