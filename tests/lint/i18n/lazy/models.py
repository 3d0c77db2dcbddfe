from django.db import models
from django.utils.translation import gettext_lazy as _


class Ticket(models.Model):
    state = models.CharField(_("Unknown"), max_length=1, choices=[("y", _("Yes")), ("n", _("No"))])

    class Meta:
        verbose_name = _("content type")
