from django.db import models


class Heartbeat(models.Model):
    """When a long-running process last showed it was alive (e.g. the polling
    bot after a getUpdates round). In the database so that every web process
    sees it, whatever cache is configured; one row per name, overwritten."""

    name = models.CharField(max_length=64, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
