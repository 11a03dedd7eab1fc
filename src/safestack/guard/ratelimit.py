"""Per-API-key rate limits: a token bucket per key (``rate`` requests per second, ``burst`` capacity).

``take`` is O(1) and lock-protected; a refused request gets the seconds until a token is available, which the proxy
returns as ``Retry-After`` with HTTP 429.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Bucket:
    rate: float  # tokens per second
    burst: float  # capacity
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}
        self.lock = threading.Lock()

    def configure(self, key: str, rate: float | None, burst: float | None = None) -> None:
        """``rate`` None (or ≤ 0) means unlimited."""
        with self.lock:
            if not rate or rate <= 0:
                self.buckets.pop(key, None)
                return
            b = float(burst if burst else max(1.0, rate))
            self.buckets[key] = Bucket(float(rate), b, b, self.clock())

    def take(self, key: str, n: float = 1.0) -> tuple[bool, float]:
        """(allowed, retry_after_seconds)."""
        with self.lock:
            b = self.buckets.get(key)
            if b is None:
                return True, 0.0
            now = self.clock()
            b.tokens = min(b.burst, b.tokens + (now - b.at) * b.rate)
            b.at = now
            if b.tokens >= n:
                b.tokens -= n
                return True, 0.0
            return False, (n - b.tokens) / b.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
