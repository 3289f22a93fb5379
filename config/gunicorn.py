"""gunicorn settings for the web process (`gunicorn config.wsgi --config config/gunicorn.py`).

Threaded workers: a request that waits on the database or on Telegram (the
webhook, an invoice link) holds one thread, not a whole process. Environment
(or `.env`): WEB_CONCURRENCY (processes), GUNICORN_THREADS, GUNICORN_TIMEOUT,
GUNICORN_GRACEFUL_TIMEOUT, GUNICORN_KEEPALIVE, GUNICORN_MAX_REQUESTS(_JITTER),
LOG_FORMAT, LOG_LEVEL. The bind address comes from the command line
(`--bind 0.0.0.0:$PORT`, see the Procfile).
"""

import os
import sys
from pathlib import Path

import environ
from prometheus_client import multiprocess

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))  # core.logs, below and in logconfig_dict

from core.logs import formatter_config  # noqa: E402 - needs the project on sys.path

environ.Env.read_env(BASE_DIR / ".env", overwrite=False)  # the same variables Django reads

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Telegram waits about a minute for a webhook answer and the view answers within
# ~8 s; a request still running after this is stuck and its worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, let requests in hand finish for this long, then exit.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Longer than a TLS proxy's idle upstream connections would be pointless; shorter
# makes the proxy reconnect for every burst.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Restart each worker now and then, a guard against slow leaks. Not too often: a new
# worker spends ~0.7 s of CPU importing the shop and warming up, which every 2,000
# requests came to ~15 % of an authenticated API request's own cost.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "2000"))
# Worker heartbeats in memory, not on a container's (possibly slow) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's documented choice
# The proxy in front sets X-Forwarded-*; Django reads them (SECURE_PROXY_SSL_HEADER,
# TRUSTED_PROXY_COUNT), so gunicorn itself need not trust any peer for them.
forwarded_allow_ips = ""
# No control socket: nothing here uses gunicornc, and it would live in $HOME, shared
# by every gunicorn of the user (and a container's home may be read-only).
control_socket_disable = True

# --- Logs: gunicorn's own lines in the same format as the application's --------------
_level = os.environ.get("LOG_LEVEL", "INFO").upper()
loglevel = _level.lower()
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"console": formatter_config(os.environ.get("LOG_FORMAT", "plain"))},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "console", "stream": "ext://sys.stderr"},
    },
    "root": {"level": _level, "handlers": ["console"]},
    "loggers": {
        # Their own handler, not the root's: Django replaces the root's in each worker.
        "gunicorn.error": {"level": _level, "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "environ": {"level": "WARNING"},  # "no .env file" is normal when the environment is set
    },
}


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR, a dead worker's live gauges stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
