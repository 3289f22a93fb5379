"""The core's own table (Heartbeat) and model building blocks shared by the apps."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """When a long-running process last showed it was alive (e.g. the polling
    bot after a getUpdates round). In the database so that every web process
    sees it, whatever cache is configured; one row per name, overwritten."""

    name = models.CharField(max_length=64, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class ServiceOwnedFieldsMixin:
    """`save()` of an existing row never writes the fields in `service_owned_fields`.

    Counters and cached balances move only with F() or a conditional UPDATE in
    their service. A copy of the row read earlier (an admin form, any code that
    loaded it before a concurrent change) would otherwise write the old value
    back and lose what happened meanwhile. Inserting a new row writes them.
    """

    service_owned_fields: tuple[str, ...] = ()

    def save(self, *args, **kwargs):
        if not self._state.adding and not kwargs.get("force_insert") and not args:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                update_fields = [f.name for f in self._meta.concrete_fields if not f.primary_key]
            kwargs["update_fields"] = [name for name in update_fields if name not in self.service_owned_fields]
        return super().save(*args, **kwargs)
