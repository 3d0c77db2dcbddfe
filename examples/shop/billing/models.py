from django.db import models


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="invoices")
    # An IntegerField until 0004 turned it into a string ("INV-2024-0001").
    number = models.CharField(max_length=32, unique=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    # 0002: added with a database default, so existing rows and old code keep working.
    status = models.CharField(max_length=20, choices=Status.choices, db_default="draft")
    issued_at = models.DateTimeField(null=True, blank=True)
    # Called "memo" until 0003 renamed the column.
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"Invoice {self.number}"
