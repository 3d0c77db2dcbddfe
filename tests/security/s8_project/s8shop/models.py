from django.db import models


class Invoice(models.Model):
    status = models.CharField(max_length=20)

    class Meta:
        indexes = [models.Index(fields=["status"], name="invoice_status_idx")]
