"""Django's Redis cache backend, cheaper on the hot path (settings use it for any
redis:// CACHE_URL). Every API request counts its throttle windows here.

- One redis.Redis client per connection pool: Django builds a new one, with
  its table of some 170 response callbacks, for every cache call.
- `count_hit(key, timeout)`: create-with-expiry-if-missing and increment in
  one round trip (MULTI/EXEC), where cache.add + cache.incr take three (Django's
  incr asks EXISTS first). core.ratelimit uses it when the backend has it.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, servers, **options) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        # A cache instance belongs to one thread (django.core.cache.caches), and a
        # redis.Redis client is safe to share anyway: it takes a connection per call.
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client

    def count_hit(self, key: str, timeout: int) -> int:
        client = self.get_client(key, write=True)
        with client.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
            _created, count = pipe.execute()
        return int(count)


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def count_hit(self, key: str, timeout: int, version: int | None = None) -> int:
        """Add one to the counter `key`, created at 0 with `timeout` seconds to
        live when missing (atomic: the expiry is never lost); returns the new count."""
        key = self.make_and_validate_key(key, version=version)
        return self._cache.count_hit(key, self.get_backend_timeout(timeout))
