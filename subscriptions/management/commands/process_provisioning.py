import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from subscriptions.provisioning import process_due


class Command(BaseCommand):
    help = "Run due provisioning tasks (panel syncs, subscription links): a loop, or --once for cron."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run what is due now, then exit (cron).")
        parser.add_argument("--limit", type=int, default=None, help="At most this many tasks per pass.")
        parser.add_argument("--poll", type=float, default=None, help="Seconds between passes (loop mode).")

    def handle(self, *args, once: bool, limit: int | None, poll: float | None, **options):
        if once:
            count = process_due(limit=limit)
            self.stdout.write(f"processed {count} provisioning task(s)")
            return
        stop = threading.Event()

        def request_stop(signum, frame):
            self.stdout.write("stopping after the current task")
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        interval = poll if poll is not None else settings.PROVISIONING_POLL_SECONDS
        self.stdout.write(f"processing provisioning tasks every {interval}s (Ctrl+C to stop)")
        while not stop.is_set():
            close_old_connections()
            count = process_due(limit=limit or 100, should_stop=stop.is_set)
            if count:
                self.stdout.write(f"processed {count} provisioning task(s)")
            else:
                stop.wait(interval)
        close_old_connections()
