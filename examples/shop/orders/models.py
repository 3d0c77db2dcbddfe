from django.db import models


class Order(models.Model):
    """The Order model of the migrations runbook (shared/runbook/migrations-runbook.md)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    # The runbook's example migration: 0002_order_tracking_number.
    tracking_number = models.CharField(max_length=100, null=True)
    # 0004: NOT NULL with a Python-side default only (no db_default).
    currency = models.CharField(max_length=3, default="EUR")
    # 0005 adds it, 0006 backfills it with the runbook's RunPython loop.
    reference = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # 0003: a plain CREATE INDEX on an existing table.
            models.Index(fields=["tracking_number"], name="order_tracking_number_idx"),
        ]

    def __str__(self) -> str:
        return self.reference or f"Order #{self.pk}"
