from django.conf import settings
from django.db import models


class Order(models.Model):
    STATUSES = ["new", "paid", "packed", "shipped"]

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(max_length=32, default="new")
    version = models.PositiveIntegerField(default=1)
    total = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    def advance(self) -> None:
        self.status = self.STATUSES[self.STATUSES.index(self.status) + 1]
        self.version += 1
        self.save()

    def as_update(self) -> dict[str, object]:
        return {"status": self.status, "total": str(self.total)}
