"""Rate limits: a token bucket per client address and one per bearer token.

Every request (except ``/healthz``, ``/readyz`` and ``/metrics``) takes one token from its client
address's bucket; a request that carries ``Authorization: Bearer …`` also takes one from
that token's bucket (keyed by a hash of the token, never the token itself). A request
is served only when every bucket it draws on has a token; otherwise nothing is taken
and the answer is ``429`` with ``Retry-After`` and ``extensions.code = RATE_LIMITED``.

Two stores keep the buckets: in this process (one instance), or in Redis through one
atomic Lua script (several instances share the buckets). When Redis cannot be reached
the limiter *fails open*: the request is served, a warning is logged (at most one every
``WARN_EVERY`` seconds), and the store is left alone for ``RETRY_AFTER_FAILURE`` seconds, so
that a Redis that hangs costs one request a timeout now and then, not every request. A
rate limiter exists to protect the service; turning a Redis outage into a full outage
would do the opposite.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from app import protocol
from services.config import Settings

log = logging.getLogger("bandeng.ratelimit")

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
WARN_EVERY = 30.0
RETRY_AFTER_FAILURE = 5.0


@dataclass(frozen=True)
class Bucket:
    """One bucket to draw from: its key, refill rate (per second) and capacity."""

    key: str
    rate: float
    burst: int


class BucketStore(Protocol):
    async def take(self, buckets: list[Bucket]) -> float:
        """Take one token from every bucket, or from none: 0 when taken, else the
        seconds until every bucket has a token again."""
        ...

    async def close(self) -> None:
        """Release connections (at shutdown)."""
        ...


def _refill(tokens: float, stamp: float, now: float, bucket: Bucket) -> float:
    return min(float(bucket.burst), tokens + max(0.0, now - stamp) * bucket.rate)


class MemoryBuckets:
    """Buckets in this process: right for a single instance. Bounded: past ``max_keys``
    the least recently used buckets are forgotten (a forgotten bucket is a full one)."""

    def __init__(self, max_keys: int = 100_000, clock=time.monotonic):
        self.max_keys = max_keys
        self.clock = clock
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, buckets: list[Bucket]) -> float:
        now = self.clock()
        levels = []
        for bucket in buckets:
            tokens, stamp = self._state.get(bucket.key, (float(bucket.burst), now))
            levels.append(_refill(tokens, stamp, now, bucket))
        wait = max(
            ((1 - level) / b.rate for b, level in zip(buckets, levels, strict=True) if level < 1), default=0.0
        )
        for bucket, level in zip(buckets, levels, strict=True):
            self._state[bucket.key] = (level - 1 if wait == 0 else level, now)
            self._state.move_to_end(bucket.key)
        while len(self._state) > self.max_keys:
            self._state.popitem(last=False)
        return wait

    async def close(self) -> None:
        self._state.clear()


# KEYS: the bucket keys; ARGV: rate and burst per key. Redis's own clock is used so that
# instances with skewed clocks still agree. Returns the wait in seconds as a string
# ("0" when the tokens were taken).
TAKE_SCRIPT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or t
  local level = math.min(burst, tokens + math.max(0, t - ts) * rate)
  levels[i] = level
  if level < 1 then wait = math.max(wait, (1 - level) / rate) end
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local level = levels[i]
  if wait == 0 then level = level - 1 end
  redis.call('HSET', key, 'tokens', tostring(level), 'ts', tostring(t))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return tostring(wait)
"""


class RedisBuckets:
    """Buckets in Redis, shared by every instance that uses the same URL and prefix."""

    def __init__(self, url: str, timeout: float = 0.5):
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.script = self.client.register_script(TAKE_SCRIPT)

    async def take(self, buckets: list[Bucket]) -> float:
        args: list[float | int] = []
        for bucket in buckets:
            args += [bucket.rate, bucket.burst]
        return float(await self.script(keys=[b.key for b in buckets], args=args))

    async def close(self) -> None:
        await self.client.aclose()


def bucket_store(settings: Settings) -> BucketStore:
    """Redis when ``BANDENG_REDIS_URL`` is set, this process otherwise."""
    return RedisBuckets(settings.redis_url) if settings.redis_url else MemoryBuckets()


def token_key(token: str) -> str:
    """The bucket name of a bearer token: a hash, so the token never leaves the process."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class RateLimit:
    """ASGI middleware applying the limits of ``settings`` to every HTTP request."""

    def __init__(self, app: ASGIApp, settings: Settings, store: BucketStore):
        self.app = app
        self.settings = settings
        self.prefix = settings.rate_limit_prefix
        self.store = store
        self._last_warning = -math.inf
        self._store_down_until = -math.inf

    def buckets(self, scope: Scope) -> list[Bucket]:
        s = self.settings
        found = []
        if s.rate_limit_address_rate > 0:
            client = scope.get("client")
            address = client[0] if client else "unknown"
            burst = max(1, s.rate_limit_address_burst)
            found.append(Bucket(f"{self.prefix}addr:{address}", s.rate_limit_address_rate, burst))
        if s.rate_limit_token_rate > 0:
            for name, value in scope.get("headers") or ():
                if name == b"authorization":
                    scheme, _, token = value.decode("latin-1").partition(" ")
                    if scheme.lower() == "bearer" and token.strip():
                        key = f"{self.prefix}token:{token_key(token.strip())}"
                        found.append(Bucket(key, s.rate_limit_token_rate, max(1, s.rate_limit_token_burst)))
                    break
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        buckets = self.buckets(scope)
        wait = 0.0
        if buckets and time.monotonic() >= self._store_down_until:
            try:
                wait = await self.store.take(buckets)
            except Exception as exc:  # fail open: see the module docstring
                now = time.monotonic()
                self._store_down_until = now + RETRY_AFTER_FAILURE
                if now - self._last_warning >= WARN_EVERY:
                    self._last_warning = now
                    log.warning(
                        "rate limiting is off for %g s: its store is unreachable (%s: %s)",
                        RETRY_AFTER_FAILURE,
                        type(exc).__name__,
                        exc,
                    )
        if wait > 0:
            await self._refuse(send, wait)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        await protocol.send_error(
            send,
            429,
            f"Too many requests; try again in {seconds} s.",
            "RATE_LIMITED",
            headers=[(b"retry-after", str(seconds).encode())],
            retryAfter=seconds,
        )
