"""The door of ``kgop serve``: a login token, one origin, known hosts, a session cap.

textual-serve's own app answers anyone who reaches its port and starts one ``kgop tui`` per
websocket. While an SSH tunnel is open, any web page the operator visits could open
``ws://127.0.0.1:8422/ws`` (or reach it through DNS rebinding) and drive the UI. This guard
wraps that app (one middleware, nothing forked):

- a random token per start, printed once in the URL; the first visit trades it for an
  ``HttpOnly; SameSite=Strict`` cookie and is redirected to the URL without it;
- every request without that cookie is refused (401), before any process starts;
- every request whose ``Host`` is not the public URL's (or the bind address's) is refused
  (403): a rebound name never gets in, even with a cookie;
- the websocket is refused (403) unless its ``Origin`` is the public URL's origin;
- at most ``max_sessions`` websockets at once (503 for the next one).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

log = logging.getLogger("kgop.serve")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_PORTS = {"http": 80, "https": 443}
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class Origin(NamedTuple):
    """A web origin: scheme, host (lowercase) and port (the scheme's default filled in)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str, exact: bool = False) -> Origin | None:
        """The origin of an http(s) URL; None when it has none. ``exact``: the URL must be
        an origin and nothing more (an ``Origin`` or ``Host`` header: no user, path, query)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        if exact and ("@" in parts.netloc or url.strip() != f"{parts.scheme}://{parts.netloc}"):
            return None
        return cls(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])

    def host_port(self) -> tuple[str, int]:
        return self.host, self.port


def parse_host(header: str, scheme: str) -> tuple[str, int] | None:
    """A ``Host`` header as (host, port), the scheme's default port filled in."""
    return (origin := Origin.parse(f"{scheme}://{header}", exact=True)) and origin.host_port()


class Guard:
    """What ``kgop serve`` checks before textual-serve sees a request."""

    def __init__(
        self, public_url: str, bind: str, port: int, max_sessions: int, token: str | None = None
    ) -> None:
        public = Origin.parse(public_url)
        if public is None:
            raise ValueError(f"{public_url!r} has no http(s) origin")
        self.public = public
        self.hosts = {public.host_port()}
        if bind not in ("0.0.0.0", "::"):  # an unspecified address is nobody's name
            self.hosts.add((bind.lower(), port))
        self.max_sessions = max_sessions
        self.sessions = 0
        self._token = (token or secrets.token_urlsafe(32)).encode()
        self._cookie = secrets.token_urlsafe(32).encode()
        # Cookies are not kept apart by port: one name per port keeps two servers apart.
        self.cookie_name = f"kgop_session_{port}"

    def __repr__(self) -> str:  # a traceback's locals never show the token
        return f"Guard({self.public}, sessions={self.sessions}/{self.max_sessions})"

    def login_url(self, public_url: str) -> str:
        """The URL to print once: the public URL with the token."""
        return f"{public_url.rstrip('/')}/?token={self._token.decode()}"

    @staticmethod
    def _same(given: str | None, expected: bytes) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), expected)

    def _refuse(self, request: web.Request, status: int, why: str, text: str) -> web.Response:
        log.warning("refused %s %s: %s", request.method, request.path, why)
        return web.Response(status=status, text=text + "\n", headers=NO_STORE)

    def _log_in(self, request: web.Request) -> web.Response:
        if not self._same(request.query.get("token"), self._token):
            return self._refuse(
                request, 401, "wrong token", "This is not the token kgop serve printed."
            )
        query = {k: v for k, v in request.query.items() if k != "token"}
        target = str(request.rel_url.with_query(query))
        response = web.Response(status=303, headers={**NO_STORE, "Location": target})
        response.set_cookie(
            self.cookie_name,
            self._cookie.decode(),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.public.scheme == "https",
        )
        return response

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Host, then token or cookie, then (for the websocket) origin and the session cap."""
        host = parse_host(request.host, self.public.scheme)
        if host not in self.hosts:
            return self._refuse(
                request, 403, "unknown Host", "kgop serve answers only at its own address."
            )
        if request.path == "/" and "token" in request.query:
            return self._log_in(request)
        if not self._same(request.cookies.get(self.cookie_name), self._cookie):
            return self._refuse(
                request,
                401,
                "no session",
                "Open the address kgop serve printed when it started: it carries the token.",
            )
        if request.path != "/ws":
            response = await handler(request)
            if not response.prepared:
                response.headers.update(NO_STORE)
                response.headers["X-Frame-Options"] = "DENY"
            return response
        if Origin.parse(request.headers.get("Origin", ""), exact=True) != self.public:
            return self._refuse(request, 403, "foreign Origin", "Foreign origin.")
        if self.sessions >= self.max_sessions:
            return self._refuse(
                request,
                503,
                "too many sessions",
                f"kgop serve already has {self.max_sessions} sessions open; close one.",
            )
        self.sessions += 1  # no await between the check and this: no race on the loop
        try:
            return await handler(request)
        finally:
            self.sessions -= 1


class GuardedServer(Server):
    """textual-serve's Server behind a :class:`Guard`, with quiet, token-free logging."""

    def __init__(self, command: str, guard: Guard, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.guard = guard

    def initialize_logging(self) -> None:
        # Plain lines on stderr; no access log (a first visit's URL holds the token) and no
        # tracebacks with locals.
        logging.basicConfig(level=logging.INFO, format="kgop serve: %(message)s")
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard.middleware)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Nothing printed: ``kgop serve`` has said where it listens (textual-serve's banner
        would name the command, not the address to open)."""
