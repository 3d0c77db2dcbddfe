from django.db import models


class Account(models.Model):
    name = models.CharField(max_length=50)
    status = models.CharField(max_length=10, default="open")


class Entry(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    amount = models.IntegerField()
