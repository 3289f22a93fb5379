"""CACHE_URL=redis://...: the rate counters (API throttles, the bot's flood limit) live in
Redis, so hits counted by one process (another gunicorn worker, the bot) count in every other."""

from __future__ import annotations

import pytest
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from api.throttles import AnonymousThrottle
from tests.production.support import load_settings, manage

pytestmark = pytest.mark.django_db

CLIENT = "203.0.113.7"
COUNT_HITS = (
    "from core.ratelimit import window_hit\n"
    "for _ in range({hits}): hit = window_hit(key={key!r}, limit={hits}, seconds=86400)\n"
    "print(hit.count)"
)


@pytest.fixture
def redis_cache(monkeypatch, settings, redis_url):
    """This process's cache as the settings build it from CACHE_URL=redis://..., with an API
    limit of 3 requests a day per client address."""
    caches = load_settings(monkeypatch, {"DJANGO_DEBUG": "true", "CACHE_URL": redis_url})["CACHES"]
    monkeypatch.undo()  # the environment back; the settings keep the cache
    settings.CACHES = caches
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/day"},
    }
    return caches["default"]


def test_cache_url_on_redis_is_djangos_redis_cache(redis_cache, redis_url):
    # the project's subclass of Django's Redis cache (one client per pool, one-round-trip counters)
    assert (redis_cache["BACKEND"], redis_cache["LOCATION"]) == ("core.cache.RedisCache", redis_url)
    assert issubclass(import_string(redis_cache["BACKEND"]), DjangoRedisCache)


def test_a_client_that_used_its_limit_through_another_process_is_throttled_here(redis_cache, redis_url, tariffs):
    # given another process of the shop (same CACHE_URL) that counted this client's three requests
    other = manage(
        "shell",
        "-c",
        COUNT_HITS.format(hits=3, key=f"throttle:{AnonymousThrottle.scope}:{CLIENT}"),
        env={"DJANGO_DEBUG": "true", "CACHE_URL": redis_url},
    )
    assert (other.returncode, other.stdout.split()[-1]) == (0, "3"), other.stderr

    # when the client asks this process
    refused = APIClient(REMOTE_ADDR=CLIENT).get("/api/v1/tariffs")
    other_client = APIClient(REMOTE_ADDR="203.0.113.8").get("/api/v1/tariffs")

    # then it is over its limit here too, and another client is not
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "throttled")
    assert other_client.status_code == 200
