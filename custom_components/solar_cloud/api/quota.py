"""Per-account call budget.

Every request of an account passes through one ``Quota``. It knows each endpoint's allowance
(``calls`` per ``period`` seconds, counted over a sliding window, which is never looser than a
vendor's fixed windows) and lets a request through only when the allowance has room, so the
vendor never has to refuse us. A request that would have to wait longer than its caller allows
raises ``RateLimitedError`` with the time until room frees up instead of waiting.

After the vendor refuses a call anyway (another client on the same account, a tighter policy than
documented), ``block`` holds the endpoint until the given time.

The clock and the sleep are injectable so that simulated days run in seconds.
"""

from __future__ import annotations

import asyncio
import time
from bisect import insort
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from .errors import AuthError, RateLimitedError

DAY = 86400.0

type Clock = Callable[[], float]
type Sleep = Callable[[float], Awaitable[None]]


def wall_clock() -> float:
    """Seconds since the epoch, looked up at each call (so test clocks can stand in)."""
    return time.time()


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Allowance:
    """``calls`` requests per ``period`` seconds; ``exclusive``: one request in flight at a time."""

    calls: int
    period: float
    exclusive: bool = False


class _Endpoint:
    __slots__ = ("allowance", "blocked_until", "lock", "sent")

    def __init__(self, allowance: Allowance) -> None:
        self.allowance = allowance
        # Send times, oldest first. A request counts from when it is let through and is stamped
        # again with its completion time, which is never earlier than when the vendor saw it.
        self.sent: list[float] = []
        self.blocked_until = 0.0
        self.lock = asyncio.Lock()


class Quota:
    """Sliding-window allowances per endpoint, shared by every request of one account."""

    def __init__(self, *, clock: Clock = wall_clock, sleep: Sleep = _sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._endpoints: dict[str, _Endpoint] = {}
        self.sent: Counter[str] = Counter()
        self.waited: float = 0.0

    @property
    def clock(self) -> Clock:
        """The clock the budget is counted on."""
        return self._clock

    def set_allowance(self, endpoint: str, allowance: Allowance) -> None:
        """Set or change an endpoint's allowance, keeping the calls already counted."""
        if allowance.calls < 1 or allowance.period <= 0:
            msg = f"invalid allowance for {endpoint}: {allowance}"
            raise ValueError(msg)
        if (current := self._endpoints.get(endpoint)) is None:
            self._endpoints[endpoint] = _Endpoint(allowance)
        else:
            current.allowance = allowance

    def allowance(self, endpoint: str) -> Allowance | None:
        """The endpoint's allowance, if one is set."""
        state = self._endpoints.get(endpoint)
        return None if state is None else state.allowance

    def _prune(self, state: _Endpoint, now: float) -> None:
        horizon = now - state.allowance.period
        drop = 0
        while drop < len(state.sent) and state.sent[drop] <= horizon:
            drop += 1
        if drop:
            del state.sent[:drop]

    def wait_time(self, endpoint: str, calls: int = 1) -> float:
        """Seconds until ``calls`` requests to ``endpoint`` may be sent."""
        state = self._endpoints.get(endpoint)
        if state is None:
            return 0.0
        now = self._clock()
        self._prune(state, now)
        wait = max(0.0, state.blocked_until - now)
        room = state.allowance.calls - len(state.sent)
        if room < calls:
            needed = min(calls - room, len(state.sent))
            free_at = state.sent[needed - 1] + state.allowance.period
            wait = max(wait, free_at - now)
        return wait

    def remaining(self, endpoint: str) -> int | None:
        """Calls left in the current window, or None when the endpoint is not budgeted."""
        state = self._endpoints.get(endpoint)
        if state is None:
            return None
        self._prune(state, self._clock())
        return max(0, state.allowance.calls - len(state.sent))

    def refund(self, endpoint: str) -> None:
        """Give back the latest call: the vendor turned it away before counting it (no session)."""
        state = self._endpoints.get(endpoint)
        if state is not None and state.sent:
            state.sent.pop()

    def block(self, endpoint: str, seconds: float) -> None:
        """Hold the endpoint for ``seconds`` (after the vendor refused a call)."""
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoints[endpoint] = _Endpoint(Allowance(1_000_000, 1.0))
        state.blocked_until = max(state.blocked_until, self._clock() + max(0.0, seconds))

    @asynccontextmanager
    async def slot(self, endpoint: str, *, max_wait: float = 0.0) -> AsyncIterator[None]:
        """Wait for room to send one request to ``endpoint``; hold it while the request runs.

        Raises ``RateLimitedError`` when the wait would exceed ``max_wait`` seconds.
        """
        state = self._endpoints.get(endpoint)
        if state is None:
            self.sent[endpoint] += 1
            yield
            return
        deadline = self._clock() + max_wait
        lock = state.lock if state.allowance.exclusive else None
        if lock is not None:
            await lock.acquire()
        try:
            while (wait := self.wait_time(endpoint)) > 0:
                if self._clock() + wait > deadline:
                    raise RateLimitedError(
                        f"allowance of {endpoint} used up",
                        retry_after=wait,
                        code="quota",
                    )
                self.waited += wait
                await self._sleep(wait)
            stamp = self._clock()
            insort(state.sent, stamp)
            self.sent[endpoint] += 1
            try:
                yield
            finally:
                if stamp in state.sent:
                    state.sent.remove(stamp)
                insort(state.sent, max(stamp, self._clock()))
        finally:
            if lock is not None:
                lock.release()

    def export(self) -> dict[str, dict[str, Any]]:
        """The counted calls and blocks, to be restored after a restart."""
        now = self._clock()
        out: dict[str, dict[str, Any]] = {}
        for name, state in self._endpoints.items():
            self._prune(state, now)
            if state.sent or state.blocked_until > now:
                out[name] = {"sent": list(state.sent), "blocked_until": state.blocked_until}
        return out

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back what ``export`` returned: calls made before a restart still count."""
        for name, saved in data.items():
            if not isinstance(saved, Mapping):
                continue
            state = self._endpoints.get(name)
            if state is None:
                # The allowance is set when the client sizes it; until then nothing limits.
                state = self._endpoints[name] = _Endpoint(Allowance(1_000_000, DAY))
            stamps = [float(t) for t in saved.get("sent", []) if isinstance(t, int | float)]
            # Calls at the same instant each count; restoring the same data twice adds nothing.
            merged = Counter(state.sent) | Counter(stamps)
            state.sent = sorted(merged.elements())
            blocked = saved.get("blocked_until", 0.0)
            if isinstance(blocked, int | float):
                state.blocked_until = max(state.blocked_until, float(blocked))

    def snapshot(self) -> dict[str, dict[str, float | int]]:
        """Counters for diagnostics and benchmarks."""
        now = self._clock()
        out: dict[str, dict[str, float | int]] = {}
        for name, state in sorted(self._endpoints.items()):
            self._prune(state, now)
            out[name] = {
                "allowance": state.allowance.calls,
                "period_s": state.allowance.period,
                "used_in_window": len(state.sent),
                "blocked_for_s": round(max(0.0, state.blocked_until - now), 1),
                "sent_total": self.sent[name],
            }
        return out


@dataclass(slots=True)
class Session:
    """An account's login session, shared by every client object of that account.

    A new client for the same account (after a reload, say) reuses a session that is still
    valid instead of logging in again and ending it. ``token`` is a secret: never log it.
    """

    token: str | None = field(default=None, repr=False)
    expires: float = 0.0
    # What the vendor returned with the token and wants back with it (SAJ's uid).
    account: str | None = None
    # A second secret issued with the token (ShineMonitor signs every call with it).
    secret: str | None = field(default=None, repr=False)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The last refused login: a digest of the credentials, when, and the vendor's code. The same
    # credentials are not tried again for a while, so that many plants polling cannot lock the
    # account with a burst of wrong passwords.
    refused: tuple[str, float, str] | None = None

    def valid(self, now: float) -> bool:
        """Whether the token may still be used."""
        return self.token is not None and now < self.expires

    async def async_ensure(
        self,
        clock: Clock,
        credentials: str,
        login: Callable[[], Awaitable[None]],
        *,
        backoff: float,
    ) -> None:
        """Log in with ``login`` unless a valid token exists; one login at a time.

        ``credentials`` identifies the credentials (a digest, never the secret): after the
        cloud refused them, they are not tried again for ``backoff`` seconds.
        """
        if self.valid(clock()):
            return
        async with self.lock:
            # Whoever waited for the lock finds the session the first caller opened.
            if self.valid(clock()):
                return
            refused = self.refused
            if refused is not None and refused[0] == credentials and clock() - refused[1] < backoff:
                raise AuthError("login refused a moment ago; not trying again yet", code=refused[2])
            try:
                await login()
            except AuthError as err:
                self.refused = (credentials, clock(), err.code or "?")
                raise
            self.refused = None

    def drop(self, token: str | None) -> None:
        """Forget ``token`` if it is still the current one."""
        if self.token == token:
            self.token = None
            self.secret = None
            self.expires = 0.0
