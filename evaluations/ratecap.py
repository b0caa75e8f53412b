"""Per-judge rate caps and back-off shared by every worker process.

Requests/min and tokens/min are token buckets in Redis, checked and charged by one Lua
script so two workers can never both take the last token. A bucket of cap ``C`` per minute
holds at most ``B = max(1, C // 10)`` tokens and refills at ``(C - B) / 60`` per second, so
no 60-second window ever admits more than ``C`` (a full bucket plus a minute of refill).

Without Redis (the embedded single-machine setup) a fixed one-minute window in Django's
cache stands in. Judge-wide back-off after transient errors lives in the cache as well.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

# When the cap store itself is unreachable, spending without a cap is the worse outcome.
STORE_DOWN_WAIT_S = 5.0
_BUCKET_TTL_S = 3600

# KEYS: one bucket per key. ARGV: capacity, refill per second, cost for each key in turn.
# Returns {admitted (0/1), seconds to wait as a string}. Buckets are charged only when all
# of them admit, so a request never spends requests without also spending tokens.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels, costs = {}, {}
local wait = 0
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local cost = math.min(tonumber(ARGV[i * 3]), capacity)
  local state = redis.call('HMGET', KEYS[i], 'level', 'ts')
  local level, ts = tonumber(state[1]), tonumber(state[2])
  if level == nil then level, ts = capacity, now end
  level = math.min(capacity, level + math.max(0, now - ts) * rate)
  levels[i], costs[i] = level, cost
  if level < cost then wait = math.max(wait, (cost - level) / rate) end
end
if wait > 0 then return {0, tostring(wait)} end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'level', tostring(levels[i] - costs[i]), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[#KEYS * 3 + 1]))
end
return {1, '0'}
"""

# KEYS[1]: a bucket; ARGV: capacity, refill per second, extra cost (may leave it negative).
_DEBIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level, ts = tonumber(state[1]), tonumber(state[2])
if level == nil then level, ts = capacity, now end
level = math.min(capacity, level + math.max(0, now - ts) * rate) - cost
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(level)
"""


@dataclass(frozen=True)
class Admission:
    allowed: bool
    wait_s: float = 0.0


@dataclass(frozen=True)
class Bucket:
    key: str
    capacity: float
    refill_per_s: float

    @classmethod
    def per_minute(cls, *, key: str, cap: int) -> Bucket:
        burst = max(1, cap // 10)
        return cls(key=key, capacity=burst, refill_per_s=max(cap - burst, 1) / 60)


def buckets_for(*, judge_id: int, requests_per_minute: int | None, tokens_per_minute: int | None):
    out = []
    if requests_per_minute:
        out.append(Bucket.per_minute(key=f"judgecap:{judge_id}:rpm", cap=requests_per_minute))
    if tokens_per_minute:
        out.append(Bucket.per_minute(key=f"judgecap:{judge_id}:tpm", cap=tokens_per_minute))
    return out


@functools.cache
def _redis() -> redis.Redis | None:
    # redis-py's pool notices a fork and reconnects, so one client per process is safe.
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
    )


def rate_acquire(
    *,
    judge_id: int,
    requests_per_minute: int | None,
    tokens_per_minute: int | None,
    tokens: int,
) -> Admission:
    """Take one request and ``tokens`` tokens from the judge's buckets, or say how long to wait."""
    buckets = buckets_for(
        judge_id=judge_id,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
    )
    if not buckets:
        return Admission(allowed=True)
    costs = [1 if bucket.key.endswith(":rpm") else max(tokens, 1) for bucket in buckets]
    client = _redis()
    if client is None:
        return _fixed_window_acquire(
            judge_id=judge_id,
            limits=[
                (b.key, int(b.capacity + b.refill_per_s * 60), c)
                for b, c in zip(buckets, costs, strict=True)
            ],
        )
    argv: list[float] = []
    for bucket, cost in zip(buckets, costs, strict=True):
        argv += [bucket.capacity, bucket.refill_per_s, cost]
    try:
        admitted, wait = client.eval(
            _ACQUIRE, len(buckets), *[b.key for b in buckets], *argv, _BUCKET_TTL_S
        )
    except redis.RedisError:
        logger.warning("rate cap store unavailable; judge %s waits", judge_id, exc_info=True)
        return Admission(allowed=False, wait_s=STORE_DOWN_WAIT_S)
    return Admission(allowed=bool(int(admitted)), wait_s=float(wait))


def tokens_debit(*, judge_id: int, tokens_per_minute: int | None, extra_tokens: int) -> None:
    """Charge what a call really used beyond its estimate (a refund when negative)."""
    if not tokens_per_minute or not extra_tokens:
        return
    bucket = Bucket.per_minute(key=f"judgecap:{judge_id}:tpm", cap=tokens_per_minute)
    client = _redis()
    try:
        if client is None:
            _cache_incr(f"{bucket.key}:{int(time.time() // 60)}", extra_tokens)
            return
        client.eval(
            _DEBIT, 1, bucket.key, bucket.capacity, bucket.refill_per_s, extra_tokens, _BUCKET_TTL_S
        )
    except redis.RedisError:
        logger.warning("could not debit %s tokens for judge %s", extra_tokens, judge_id)


def _cache_incr(key: str, delta: int) -> int:
    cache.add(key, 0, timeout=65)
    return cache.incr(key, delta)


def _fixed_window_acquire(*, judge_id: int, limits: list[tuple[str, int, int]]) -> Admission:
    now = time.time()
    window = int(now // 60)
    wait = 60 * (window + 1) - now
    try:
        for key, limit, cost in limits:
            if (cache.get(f"{key}:{window}") or 0) + cost > limit:
                return Admission(allowed=False, wait_s=wait)
        for key, _, cost in limits:
            _cache_incr(f"{key}:{window}", cost)
    except Exception:
        logger.warning("rate cap cache unavailable; judge %s waits", judge_id, exc_info=True)
        return Admission(allowed=False, wait_s=STORE_DOWN_WAIT_S)
    return Admission(allowed=True)


# --- judge-wide back-off after transient errors ---


def cooldown_remaining(*, judge_id: int) -> float:
    """Seconds every worker should still leave this judge's endpoint alone."""
    try:
        until = cache.get(f"judgecooldown:{judge_id}")
    except Exception:
        return 0.0
    return max(0.0, float(until) - time.time()) if until else 0.0


def cooldown_start(*, judge_id: int, seconds: float) -> None:
    try:
        cache.set(
            f"judgecooldown:{judge_id}", time.time() + seconds, timeout=math.ceil(seconds) + 1
        )
    except Exception:
        logger.warning("could not record back-off for judge %s", judge_id)


def failures_record(*, judge_id: int) -> int:
    """Count one more transient failure in a row; the back-off grows with it."""
    try:
        return _cache_incr_lasting(f"judgefailures:{judge_id}")
    except Exception:
        return 1


def failures_reset(*, judge_id: int) -> None:
    try:
        cache.delete_many([f"judgefailures:{judge_id}", f"judgecooldown:{judge_id}"])
    except Exception:
        logger.warning("could not reset back-off for judge %s", judge_id)


def _cache_incr_lasting(key: str) -> int:
    # The streak lasts an hour past its latest failure, so a long outage keeps backing off.
    cache.add(key, 0, timeout=3600)
    count = cache.incr(key)
    cache.touch(key, 3600)
    return count
