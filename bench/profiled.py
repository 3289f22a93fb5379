"""Run a Python script with cProfile in every thread, timed by each thread's own
CPU clock (waits on sockets, the database or the GIL do not count), and write
the merged statistics when it exits:

    python bench/profiled.py OUT.prof manage.py runbot --poll-timeout 10

bench/bot_precheckout.py --profile starts runbot through it.
"""

from __future__ import annotations

import atexit
import cProfile
import marshal
import runpy
import sys
import threading
import time

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profile_this_thread(*_args) -> None:
    # threading calls this as the new thread's profile hook: replace it with cProfile's.
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    profile.enable()


def _dump(path: str) -> None:
    merged: dict = {}
    with _lock:
        profiles = list(_profiles)
    for profile in profiles:
        profile.create_stats()
        for function, (calls, primitive, own, total, callers) in profile.stats.items():
            if function in merged:
                c, p, o, t, known = merged[function]
                for caller, counts in callers.items():
                    if caller in known:
                        known[caller] = tuple(a + b for a, b in zip(known[caller], counts, strict=True))
                    else:
                        known[caller] = counts
                merged[function] = (c + calls, p + primitive, o + own, t + total, known)
            else:
                merged[function] = (calls, primitive, own, total, dict(callers))
    with open(path, "wb") as out:
        marshal.dump(merged, out)


def main() -> None:
    out, script, *args = sys.argv[1:]
    atexit.register(_dump, out)
    threading.setprofile(_profile_this_thread)
    _profile_this_thread()
    sys.argv = [script, *args]
    sys.path.insert(0, ".")
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
