from django.db import models


class Invoice(models.Model):
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)
