"""Per-key token buckets (pure: the caller passes the monotonic clock reading)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one call costs one token."""

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        return cls(rate=rate, burst=burst, tokens=burst, updated=now)

    def take(self, now: float, cost: float = 1.0) -> float:
        """Spend `cost` tokens; returns 0.0 when allowed, else the seconds until it would be."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """One bucket per API key in this replica. A key's limit is for the whole deployment, so
    each replica enforces its share: `rate` and `burst` divided by the live replica count
    (`replicas`, from `gateway.presence`). With the load balancer spreading calls, the sum
    stays at the key's limit; a key whose calls all land on one replica gets that share.
    """

    def __init__(self, replicas: Callable[[], int] = lambda: 1) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._replicas = replicas

    def take(self, key_id: str, rate: float, burst: float, now: float) -> float:
        share = max(1, self._replicas())
        rate, burst = rate / share, max(1.0, burst / share)
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket.full(rate, burst, now)
        elif bucket.rate != rate or bucket.burst != burst:
            # A changed limit or replica count: keep what is saved up (capped), never refill.
            bucket.take(now, cost=0.0)
            bucket.rate, bucket.burst = rate, burst
            bucket.tokens = min(bucket.tokens, burst)
        return bucket.take(now)
