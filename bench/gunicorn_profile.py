"""config/gunicorn.py plus a profiler of every request, for bench/api_throughput.py --profile.

Each worker thread profiles the requests it handles (cProfile timed by the
thread's own CPU clock, so waits on the database or another thread's GIL do
not count) and writes its statistics to $BENCH_PROFILE_DIR when the worker exits.
"""

import cProfile
import os
import threading
import time
from pathlib import Path

_config = Path(__file__).resolve().parent.parent / "config" / "gunicorn.py"
exec(compile(_config.read_text(), str(_config), "exec"))  # noqa: S102 - the production settings, then the hooks

_profiles: list[cProfile.Profile] = []
_local = threading.local()
_lock = threading.Lock()


def pre_request(worker, req):
    profile = getattr(_local, "profile", None)
    if profile is None:
        profile = _local.profile = cProfile.Profile(time.thread_time)
        with _lock:
            _profiles.append(profile)
    profile.enable()


def post_request(worker, req, environ, resp):
    profile = getattr(_local, "profile", None)
    if profile is not None:
        profile.disable()


def worker_exit(server, worker):
    directory = Path(os.environ["BENCH_PROFILE_DIR"])
    with _lock:
        for index, profile in enumerate(_profiles):
            profile.dump_stats(directory / f"{os.getpid()}-{index}.prof")
