"""A fixed-window request cap shared by every web process (Redis through Django's cache)."""

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapDecision:
    allowed: bool
    retry_after: int


def rate_cap_hit(*, key: str, limit: int, window_seconds: int = 60) -> CapDecision:
    now = time.time()
    window = int(now // window_seconds)
    cache_key = f"ratecap:{key}:{window}"
    try:
        cache.add(cache_key, 0, timeout=window_seconds + 5)
        count = cache.incr(cache_key)
    except Exception:  # a cache outage must not take ingestion down with it
        logger.warning("rate cap store unavailable; allowing request", exc_info=True)
        return CapDecision(allowed=True, retry_after=0)
    if count > limit:
        retry_after = max(1, int((window + 1) * window_seconds - now) + 1)
        return CapDecision(allowed=False, retry_after=retry_after)
    return CapDecision(allowed=True, retry_after=0)
