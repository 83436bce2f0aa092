"""Sign-in attempts: failures counted per account and per client address in a sliding window.

Past the limit, sign-in is refused for the rest of the window without checking the password
(a guesser learns nothing), and a warning is logged once per lock. Counted in this gateway
process (each replica keeps its own count; a guesser spreading attempts over N replicas gets
N times the limit, still a handful per hour).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("gateway.console.signin")


@dataclass(frozen=True)
class Limits:
    per_account: int = 5
    per_address: int = 20
    window_seconds: float = 15 * 60


class LoginThrottle:
    def __init__(self, limits: Limits = Limits(),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.monotonic = monotonic
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        horizon = self.monotonic() - self.limits.window_seconds
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        waits = []
        for key, limit in ((f"account:{account}", self.limits.per_account),
                           (f"address:{address}", self.limits.per_address)):
            failures = self._recent(key)
            if len(failures) >= limit:
                waits.append(failures[-limit] + self.limits.window_seconds - self.monotonic())
        return max(waits, default=0.0)

    def failed(self, account: str, address: str) -> None:
        now = self.monotonic()
        for key, limit in ((f"account:{account}", self.limits.per_account),
                           (f"address:{address}", self.limits.per_address)):
            failures = self._recent(key)
            failures.append(now)
            if len(failures) == limit:
                log.warning("console sign-in locked for %.0f s after %d failed attempts: %s "
                            "(account %s, address %s)", self.limits.window_seconds, limit, key,
                            account, address)
        if len(self._failures) > 100_000:  # bounded memory under a flood of made-up names
            self._failures.clear()

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"account:{account}", None)
