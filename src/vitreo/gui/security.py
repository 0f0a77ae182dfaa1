"""Guards on every request: the start-up token, same-origin requests only, and known hosts.

The server prints a URL holding a random token (``/?token=...``). Opening it sets a cookie
(HttpOnly, SameSite=Strict) and redirects to the bare URL; from then on the cookie, or an
``X-Vitreo-Token`` header (scripts, tests), must carry the token on every request. A request
whose ``Origin`` is not the server's own, or that the browser marks as cross-site
(``Sec-Fetch-Site``), is refused, and so is an unknown ``Host`` (DNS rebinding).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Collection
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

TOKEN_HEADER = "x-vitreo-token"
TOKEN_QUERY = "token"
Handler = Callable[[Request], Awaitable[Response]]


def new_token() -> str:
    """A random token for the start-up URL (256 bits)."""
    return secrets.token_urlsafe(32)


def cookie_name(request: Request) -> str:
    """The cookie carrying the token; per port, since cookies are shared by all ports of a host."""
    return f"vitreo_token_{request.url.port or 0}"


def refusal(request: Request, token: str, allowed_hosts: Collection[str] | None) -> JSONResponse | None:
    """Why the request is refused (a 4xx response), or None when it may go on."""
    host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
    if allowed_hosts is not None and host not in allowed_hosts:
        return _error(403, f"host {host!r} is not served; open the URL printed by `vitreo gui`")
    origin = request.headers.get("origin")
    own_origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if (origin is not None and origin != own_origin) or \
            request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return _error(403, "cross-origin requests are refused")
    given = (request.headers.get(TOKEN_HEADER) or request.cookies.get(cookie_name(request))
             or request.query_params.get(TOKEN_QUERY) or "")
    if not secrets.compare_digest(given.encode(), token.encode()):
        return _error(401, "a valid token is required: open the URL printed by `vitreo gui`")
    return None


def guard(token: str, allowed_hosts: Collection[str] | None) -> Callable[[Request, Handler], Awaitable[Response]]:
    """HTTP middleware applying :func:`refusal`; a page opened with ``?token=`` gets the cookie."""

    async def middleware(request: Request, call_next: Handler) -> Response:
        refused = refusal(request, token, allowed_hosts)
        if refused is not None:
            return refused
        if TOKEN_QUERY in request.query_params and request.method == "GET" \
                and not request.url.path.startswith("/api/"):
            query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != TOKEN_QUERY])
            response: Response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            response.set_cookie(cookie_name(request), token, httponly=True, samesite="strict")
            return response
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    return middleware


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


__all__ = ["TOKEN_HEADER", "TOKEN_QUERY", "new_token", "cookie_name", "refusal", "guard"]
