"""Console sessions and the login rate limit, kept in memory (a restart logs everyone out).

A session is a random token in an HttpOnly, SameSite=Strict cookie; its CSRF
token is a second random value the page must echo in ``X-CSRF-Token`` on every
state-changing request. Sessions end on logout or ``ttl_s`` after the last use.
"""

from __future__ import annotations

import collections
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.console.users import Role

__all__ = ["LoginLimiter", "Session", "SessionStore"]


@dataclass(slots=True)
class Session:
    token: str
    user: str
    role: Role
    csrf: str
    expires: float

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


class SessionStore:
    """Tokens to sessions, sliding expiry."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def create(self, user: str, role: Role) -> Session:
        self._sweep()
        session = Session(
            token=secrets.token_urlsafe(32),
            user=user,
            role=role,
            csrf=secrets.token_urlsafe(32),
            expires=self._clock() + self.ttl_s,
        )
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._sessions.get(token)
        now = self._clock()
        if session is None:
            return None
        if session.expires <= now:
            del self._sessions[token]
            return None
        session.expires = now + self.ttl_s
        return session

    def alive(self, token: str) -> bool:
        """Whether ``token`` is a live session, without counting this as a use (streams ask)."""
        session = self._sessions.get(token)
        return session is not None and session.expires > self._clock()

    def end(self, token: str) -> None:
        self._sessions.pop(token, None)

    def end_user(self, user: str) -> None:
        for token in [t for t, s in self._sessions.items() if s.user == user]:
            del self._sessions[token]

    def _sweep(self) -> None:
        now = self._clock()
        for token in [t for t, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[token]


class LoginLimiter:
    """At most ``limit`` failed logins per (user, address) in ``window_s``; then refuse."""

    def __init__(
        self, limit: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], collections.deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> collections.deque[float]:
        q = self._failures.setdefault(key, collections.deque())
        cutoff = self._clock() - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def blocked(self, user: str, address: str) -> bool:
        """True when this attempt must be refused (429) without checking the password."""
        return len(self._recent((user, address))) >= self.limit

    def failed(self, user: str, address: str) -> None:
        self._recent((user, address)).append(self._clock())
        if len(self._failures) > 10_000:
            for key in [k for k, q in self._failures.items() if not q]:
                del self._failures[key]

    def succeeded(self, user: str, address: str) -> None:
        self._failures.pop((user, address), None)
