"""Login, sessions, roles and CSRF for an aiohttp page: the console's, reused by the site page.

One :class:`WebAuth` per application: the users file (re-read when it changes, so
``lanectl users`` takes effect at once), the in-memory sessions and the login rate
limit. It gives the guard middleware (every state-changing request needs a session,
401, and its CSRF token in ``X-CSRF-Token``, 403; security headers on every
answer) and the ``/api/login``, ``/api/logout`` and ``/api/me`` handlers. What a
page journals is the caller's: each login, failure and refusal goes to ``audit``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from controller.console.sessions import LoginLimiter, Session, SessionStore
from controller.console.users import UsersError, UsersFile

__all__ = [
    "AUTH_JS",
    "COOKIE",
    "LOGIN_PATH",
    "SECURITY_HEADERS",
    "Audit",
    "WebAuth",
    "last_event_id",
    "static_file",
]

COOKIE = "lanectl_session"
LOGIN_PATH = "/api/login"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
AUTH_JS = "auth.js"
"""The login form, session and CSRF-carrying fetch that every page loads first."""
_STATIC_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}


def static_file(folder: Traversable, name: str) -> web.Response:
    """A file of a page's ``static`` folder; ``auth.js`` is the one every page shares."""
    if name == AUTH_JS:
        folder = resources.files("controller.console") / "static"
    item = folder / name
    if "/" in name or not item.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=item.read_bytes(),
        content_type=_STATIC_TYPES.get(Path(name).suffix, "application/octet-stream"),
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def last_event_id(request: web.Request) -> int | None:
    """Where an event stream resumes: ``Last-Event-ID`` (a reconnect) or ``?after=``."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    if not raw:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad_field", "detail": "Last-Event-ID: an integer"}),
            content_type="application/json",
        ) from None


class Audit(Protocol):
    """Journals one page action with who and from where; returns the entry's id."""

    def __call__(self, kind: str, *, user: str, role: str, remote: str, **data: Any) -> int: ...


def remote(request: web.Request) -> str:
    return request.remote or "?"


class WebAuth:
    """Users, sessions and the login limit of one page; see the module docstring."""

    def __init__(
        self,
        users: UsersFile,
        *,
        session_s: float,
        secure_cookie: bool,
        audit: Audit,
        me: Callable[[Session], dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = users
        self.sessions = SessionStore(session_s, clock=clock)
        self.limiter = LoginLimiter(clock=clock)
        self.secure_cookie = secure_cookie
        self.audit = audit
        self.me_body = me
        self._mtime = _mtime(users.path)

    def current_users(self) -> UsersFile:
        mtime = _mtime(self.users.path)
        if mtime != self._mtime:
            try:
                self.users = UsersFile(self.users.path)
                self._mtime = mtime
            except UsersError:
                pass  # keep the last good file; `lanectl users` reports the problem
        return self.users

    def session_of(self, request: web.Request) -> Session | None:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        user = self.current_users().users.get(session.user)
        if user is None or user.role is not session.role:
            self.sessions.end(session.token)  # removed or demoted: log in again
            return None
        return session

    def need_session(self, request: web.Request) -> Session:
        session = self.session_of(request)
        if session is None:
            raise web.HTTPUnauthorized(
                text='{"error":"unauthorized","detail":"log in"}', content_type="application/json"
            )
        return session

    def refuse(self, request: web.Request, status: int, kind: str, reason: str) -> web.Response:
        session = self.session_of(request)
        self.audit(
            kind,
            user=session.user if session else "",
            role=session.role.value if session else "",
            remote=remote(request),
            method=request.method,
            path=request.path,
            reason=reason,
        )
        return web.json_response({"error": kind, "detail": reason}, status=status)

    @web.middleware
    async def guard(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD") and request.path != LOGIN_PATH:
            session = self.session_of(request)
            if session is None:
                return self.refuse(request, 401, "forbidden", "no valid session")
            if not session.csrf_ok(request.headers.get("X-CSRF-Token")):
                return self.refuse(request, 403, "csrf_refused", "missing or wrong CSRF token")
        resp = await handler(request)
        for key, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(key, value)
        return resp

    async def login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "malformed_json"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "malformed_json"}, status=400)
        name, password = body.get("user"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or not name:
            return web.json_response(
                {"error": "bad_field", "detail": "user and password: strings"}, status=400
            )
        addr = remote(request)
        if self.limiter.blocked(name, addr):
            self.audit("login_throttled", user=name, role="", remote=addr)
            return web.json_response(
                {"error": "too_many_attempts", "detail": "too many failed logins; wait a minute"},
                status=429,
                headers={"Retry-After": str(int(self.limiter.window_s))},
            )
        user = await asyncio.to_thread(self.current_users().verify, name, password)
        if user is None:
            self.limiter.failed(name, addr)
            self.audit("login_failed", user=name, role="", remote=addr)
            return web.json_response(
                {"error": "bad_credentials", "detail": "wrong user or password"}, status=401
            )
        self.limiter.succeeded(name, addr)
        session = self.sessions.create(user.name, user.role)
        self.audit("login", user=user.name, role=user.role.value, remote=addr)
        resp = web.json_response(self.me_body(session))
        resp.set_cookie(
            COOKIE,
            session.token,
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
            path="/",
        )
        return resp

    async def logout(self, request: web.Request) -> web.Response:
        session = self.need_session(request)
        self.sessions.end(session.token)
        self.audit("logout", user=session.user, role=session.role.value, remote=remote(request))
        resp = web.json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def me(self, request: web.Request) -> web.Response:
        session = self.need_session(request)
        return web.json_response(self.me_body(session), headers={"Cache-Control": "no-store"})

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(LOGIN_PATH, self.login)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_get("/api/me", self.me)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0
