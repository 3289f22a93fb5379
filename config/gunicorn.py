"""gunicorn settings for the web process (`gunicorn config.wsgi --config config/gunicorn.py`).

Threaded workers: a request that waits on the database or on Telegram (the
webhook, an invoice link) holds one thread, not a whole process. Environment:
WEB_CONCURRENCY (processes), GUNICORN_THREADS, GUNICORN_TIMEOUT.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Telegram waits about a minute for a webhook answer and the view answers within
# ~8 s; a request still running after this is stuck and its worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Restart each worker now and then, a cheap guard against slow leaks.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
