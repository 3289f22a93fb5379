"""core.cache.RedisCache: Django's Redis cache with one client per pool and a
one-round-trip counter, which the throttles and the bot's flood limit count with."""

from __future__ import annotations

import pytest
import redis
from django.test import override_settings

from conftest import run_concurrently
from core.cache import RedisCache
from core.ratelimit import window_hit


def redis_cache(url: str) -> RedisCache:
    return RedisCache(url, {"KEY_PREFIX": "t"})


def test_count_hit_creates_the_counter_with_its_expiry_then_counts(redis_url):
    shop_cache = redis_cache(redis_url)

    counts = [shop_cache.count_hit("hits", 30) for _ in range(3)]

    assert counts == [1, 2, 3]
    raw = redis.Redis.from_url(redis_url)
    key = shop_cache.make_and_validate_key("hits")
    assert 0 < raw.ttl(key) <= 30  # created with its expiry, which later hits keep
    assert shop_cache.get("hits") == 3  # an ordinary cache value too


def test_count_hit_counts_every_hit_of_concurrent_callers(redis_url):
    results = run_concurrently(lambda _i: [redis_cache(redis_url).count_hit("race", 30) for _ in range(20)], 8)

    assert sorted(count for counts in results for count in counts) == list(range(1, 161))


def test_a_cache_reuses_one_client_per_pool(redis_url):
    shop_cache = redis_cache(redis_url)

    assert shop_cache._cache.get_client(write=True) is shop_cache._cache.get_client(write=False)
    shop_cache.set("a", {"x": 1}, 10)
    assert shop_cache.get("a") == {"x": 1}
    assert shop_cache.add("n", 1, 10) is True
    assert shop_cache.incr("n") == 2  # Django's own operations still work


def test_two_processes_count_in_one_counter(redis_url):
    # given two cache instances on one Redis, as two gunicorn workers have
    web_worker, other_worker = redis_cache(redis_url), redis_cache(redis_url)

    counts = [
        web_worker.count_hit("shared", 30),
        other_worker.count_hit("shared", 30),
        web_worker.count_hit("shared", 30),
    ]

    assert counts == [1, 2, 3]


@pytest.mark.parametrize("hits", [1, 4])
def test_the_rate_limit_refuses_past_its_limit_on_redis(redis_url, hits):
    settings = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": redis_url}}
    with override_settings(CACHES=settings):
        results = [window_hit(key="user:2", limit=3, seconds=3600) for _ in range(hits)]

    assert [hit.count for hit in results] == list(range(1, hits + 1))
    assert [hit.allowed for hit in results] == [count <= 3 for count in range(1, hits + 1)]
