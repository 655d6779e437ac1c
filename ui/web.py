"""The app's HTTP side, beside Streamlit's pages: the login form, the session cookie, security headers.

A Streamlit page cannot set a response header, so the login happens where one can: `/login` is a
plain HTML form served by a route of the app's Starlette server (`ui/server.py` mounts it with
`st.App`). Its POST checks the password through `hitl_core.login_guard` (throttled per account
and per client, audited), opens a server-side session and answers with the session cookie:
HttpOnly (page scripts cannot read it), SameSite=Strict, Secure behind TLS (`HITL_COOKIE_SECURE`),
then redirects to the page that was asked for. The token travels only in that header and in the
cookie the browser sends back; the pages read it server-side (`st.context.cookies`) and it is never
written into a page. Every HTTP response also carries `Content-Security-Policy: frame-ancestors
'self'` and `X-Frame-Options: SAMEORIGIN`, so another site cannot frame the app.
"""

from __future__ import annotations

import html
import json
from typing import Final
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit import config

from hitl_core import login_guard, sessions
from hitl_core.errors import HitlError
from hitl_core.settings import configured
from hitl_core.users import User
from hitl_lab.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from ui import services

LOGIN_PATH: Final = "/login"
SECURITY_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
"""Added to every HTTP response of the app (pages, scripts, the login form, health checks)."""
WRONG: Final = "Wrong user name or password."
_MAX_FORM_BYTES = 8192
_mounted: list[bool] = []


def mounted() -> bool:
    """Whether this process serves the login form (started through `ui/server.py`, as `hitl ui` does)."""
    return bool(_mounted)


def routes() -> list[Route]:
    """The login form's route (GET shows it, POST logs in), to mount beside Streamlit's."""
    _mounted[:] = [True]
    return [Route(base_path() + LOGIN_PATH, login_endpoint, methods=["GET", "POST"])]


def middleware() -> list[Middleware]:
    """The security headers on every response."""
    return [Middleware(SecurityHeaders)]


class SecurityHeaders:
    """ASGI middleware: adds `SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to its response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def base_path() -> str:
    """Streamlit's `server.baseUrlPath` as a path prefix (`""` or `/prefix`)."""
    raw = str(config.get_option("server.baseUrlPath") or "")
    cleaned = "/".join(part for part in raw.split("/") if part)
    return f"/{cleaned}" if cleaned else ""


def login_url() -> str:
    """Where the login form is served."""
    return base_path() + LOGIN_PATH


def to_login_script() -> str:
    """A script sending this tab to the login form, which returns to the current page after the login.

    It carries no data: the address it goes back to is read from the browser's own location. (No `<`
    inside: DOMPurify drops a script whose text looks like markup.)
    """
    return (
        f"<script>window.location.replace({json.dumps(login_url())}+'?next='+"
        "encodeURIComponent(window.location.pathname+window.location.search));</script>"
    )


def cookie_secure(request: Request) -> bool:
    """`HITL_COOKIE_SECURE`: `true` or `false`; `auto` (default) when the request came over https.

    Behind a TLS-terminating proxy the scheme is https when the proxy sends `X-Forwarded-Proto` and
    the server trusts it (uvicorn trusts 127.0.0.1, or `FORWARDED_ALLOW_IPS`); otherwise set `true`.
    """
    setting = configured().cookie_secure
    if setting != "auto":
        return setting == "true"
    return request.url.scheme == "https"


def safe_next(value: str | None) -> str:
    """A same-site path to go to after logging in; anything else (another site, a scheme) becomes the root."""
    target = (value or "").strip()
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or parts.scheme
        or parts.netloc
        or len(target) > 2000
        or any(ord(c) < 32 or c == "\\" for c in target)
    ):
        return base_path() + "/"
    return target


def client_key(request: Request) -> str:
    """The client an attempt counts against: the remote address the server saw (after trusted proxies)."""
    return f"ip:{request.client.host}" if request.client else "unknown"


async def login_endpoint(request: Request) -> Response:
    """GET: the form (or straight on when already logged in). POST: check the password, set the cookie."""
    if services.oidc_settings() is not None:  # the identity provider logs people in, on the app's own page
        return RedirectResponse(base_path() + "/", status_code=303)
    token = request.cookies.get(services.COOKIE)
    if request.method == "GET":
        target = safe_next(request.query_params.get("next"))
        user = await run_in_threadpool(_resolve, token)
        if user is not None:
            return _no_store(RedirectResponse(target, status_code=303))
        notice = "Your session has ended (logged out or expired). Log in again to continue." if token else None
        page = _page(target, notice=notice)
        if token:  # a stale cookie: drop it
            _clear_cookie(page, request)
        return page
    if not _same_origin(request):
        return _page(base_path() + "/", error="This login form was sent from another site.", status=403)
    form = await _form(request)
    target = safe_next(form.get("next"))
    name, password = form.get("name", ""), form.get("password", "")
    if not name.strip() or not password:  # nothing to check, nothing counted
        return _page(target, name=name, error="Enter your user name and password.", status=400)
    try:
        user = await run_in_threadpool(_log_in, name, password, client_key(request))
    except login_guard.LoginLocked as locked:
        page = _page(target, name=name, error=str(locked), status=429)
        page.headers["Retry-After"] = str(int(locked.retry_after))
        return page
    except HitlError:
        return _page(target, name=name, error="The login service is unavailable; try again shortly.", status=503)
    if user is None:
        return _page(target, name=name, error=WRONG, status=401)
    ttl, idle = sessions.lifetimes()
    new_token = await run_in_threadpool(_open_session, user, ttl, idle)
    response = _no_store(RedirectResponse(target, status_code=303))
    response.set_cookie(
        services.COOKIE,
        new_token,
        max_age=int(ttl),
        path=base_path() + "/",
        secure=cookie_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


def _resolve(token: str | None) -> User | None:
    return sessions.resolve(services.runner().db, token) if services.token_shaped(token) else None


def _log_in(name: str, password: str, client: str) -> User | None:
    return login_guard.log_in(services.runner().db, name, password, client=client, channel="app")


def _open_session(user: User, ttl: float, idle: float) -> str:
    return sessions.create(services.runner().db, user, ttl, idle)


def _same_origin(request: Request) -> bool:
    """Whether a POST came from the app's own pages: browsers mark a form's origin (Sec-Fetch-Site, Origin).

    A request with neither mark did not come from a browser's cross-site form (a script, a test client).
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return urlsplit(origin).netloc == request.headers.get("host", "")
    return origin is None


async def _form(request: Request) -> dict[str, str]:
    """The form's fields (the first value of each), read up to `_MAX_FORM_BYTES`; nothing beyond."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=10)
    except ValueError:  # more fields than the form has
        return {}
    return {key: values[0] for key, values in fields.items() if values}


def _clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        services.COOKIE, path=base_path() + "/", secure=cookie_secure(request), httponly=True, samesite="strict"
    )


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(
    target: str, *, name: str = "", notice: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    """The login form as a small self-contained page (nothing fetched from elsewhere, no script)."""
    alerts = ""
    if notice:
        alerts += f'<p class="notice" role="status">{html.escape(notice)}</p>'
    if error:
        alerts += f'<p class="error" role="alert">{html.escape(error)}</p>'
    demo = ""
    if configured().demo:
        accounts = "; ".join(f"{n} ({', '.join(r)})" for n, r in DEMO_ACCOUNTS.items())
        demo = (
            f'<p class="demo">Demo accounts, each with the password <code>{html.escape(DEMO_PASSWORD)}</code>:'
            f"<br>{html.escape(accounts)}</p>"
        )
    body = _TEMPLATE.format(
        action=html.escape(base_path() + LOGIN_PATH),
        alerts=alerts,
        next=html.escape(target),
        name=html.escape(name[:200]),
        autofocus_name="" if name else " autofocus",
        autofocus_password=" autofocus" if name else "",
        demo=demo,
    )
    return _no_store(HTMLResponse(body, status_code=status))


_TEMPLATE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · HITL review</title>
<style>
  body {{ font-family: "Source Sans Pro", system-ui, sans-serif; color: #31333f; margin: 0; background: #fff; }}
  main {{ max-width: 32rem; margin: 5rem auto; padding: 0 1.5rem; }}
  h1 {{ font-size: 2.2rem; font-weight: 700; margin: 0 0 1.5rem; }}
  form {{ border: 1px solid #d6d6d9; border-radius: .5rem; padding: 1.25rem; }}
  label {{ display: block; font-size: .9rem; margin: .25rem 0; }}
  input {{ box-sizing: border-box; width: 100%; padding: .55rem .7rem; margin-bottom: 1rem;
           border: 1px solid #d6d6d9; border-radius: .5rem; background: #f0f2f6; font-size: 1rem; }}
  button {{ padding: .5rem 1rem; border: 0; border-radius: .5rem; background: #ff4b4b; color: #fff;
            font-size: 1rem; cursor: pointer; }}
  .error {{ background: #ffecec; color: #7d353b; padding: .75rem 1rem; border-radius: .5rem; }}
  .notice {{ background: #e8f0fe; color: #1e3a6e; padding: .75rem 1rem; border-radius: .5rem; }}
  .demo {{ color: #6b6f7b; font-size: .9rem; }}
</style>
</head>
<body>
<main>
<h1>Human-in-the-loop review</h1>
{alerts}
<form method="post" action="{action}">
<input type="hidden" name="next" value="{next}">
<label for="name">User name</label>
<input id="name" name="name" autocomplete="username" required maxlength="200" value="{name}"{autofocus_name}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required{autofocus_password}>
<button type="submit">Log in</button>
</form>
{demo}
</main>
</body>
</html>
"""
