"""Accounts in a real Chromium: a lockout on the login form, the HttpOnly session cookie, no framing by other sites.

The app runs as `hitl ui` runs it (`ui/server.py`), with the default of 5 failures in 15 minutes
but a 6-second lockout, so that the lock is seen to expire.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest

from hitl_core import login_guard, sessions
from hitl_core.canonical import loads, sha256_hex
from tests.browser.conftest import PASSWORD, screenshot

pytestmark = pytest.mark.browser
LOCKOUT_SECONDS = 6
LOCKED = "Too many failed login attempts. Try again in 1 minute."


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    return {"HITL_LOGIN_LOCKOUT_SECONDS": str(LOCKOUT_SECONDS)}


def _submit(page: Any, name: str, password: str) -> None:
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def _alert(page: Any) -> str:
    return str(page.get_by_role("alert").inner_text()).strip()


def _login_events(runner: Any) -> list[dict[str, Any]]:
    """The login events in the order they were appended (all on the system chain)."""
    rows = runner.db.read("SELECT kind, actor, data FROM audit_events WHERE kind LIKE 'login%' ORDER BY stream_seq")
    return [{**row, "data": loads(row["data"], {})} for row in rows]


def _session_cookies(context: Any) -> list[dict[str, Any]]:
    return [c for c in context.cookies() if c["name"] == "hitl_session"]


def test_five_failures_lock_the_account_even_for_the_right_password_then_the_lock_expires(app_server, browser):
    runner = app_server["runner"]
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(45_000)
    page = context.new_page()
    page.goto(app_server["base"] + "/inbox")  # a deep link: the form, then back here
    page.get_by_role("textbox", name="User name").wait_for()
    for _ in range(5):
        _submit(page, "sri", "not the password")
        assert _alert(page) == "Wrong user name or password."
    started = time.monotonic()
    _submit(page, "sri", PASSWORD)  # the right password, refused while locked
    assert _alert(page) == LOCKED
    assert _session_cookies(context) == []
    screenshot(page, "13-login-locked")
    # A name that has no account gets exactly the same answers: the lock does not say who exists.
    for _ in range(5):
        _submit(page, "nobody-here", "not the password")
        assert _alert(page) == "Wrong user name or password."
    _submit(page, "nobody-here", PASSWORD)
    assert _alert(page) == LOCKED

    events = _login_events(runner)
    assert [e["kind"] for e in events if e["data"]["user"] == "sri"] == ["login_failed"] * 5 + [
        "login_locked",
        "login_refused",
    ]
    assert {e["data"]["client"] for e in events} == {"ip:127.0.0.1"}

    time.sleep(max(0.0, LOCKOUT_SECONDS + 0.5 - (time.monotonic() - started)))
    _submit(page, "sri", PASSWORD)  # the lock has expired
    page.get_by_role("heading", name="Inbox").wait_for()
    assert page.url == app_server["base"] + "/inbox"
    assert [e["actor"] for e in _login_events(runner) if e["kind"] == "login_succeeded"] == ["sri"]
    assert login_guard.locked_until(runner.db, "account", "sri") is None
    context.close()


def test_the_session_token_is_in_an_httponly_cookie_and_never_in_the_page(app_server, browser):
    runner = app_server["runner"]
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(45_000)
    page = context.new_page()
    frames: list[bytes] = []

    def watch(socket: Any) -> None:
        for event in ("framereceived", "framesent"):
            socket.on(event, lambda payload: frames.append(payload if isinstance(payload, bytes) else payload.encode()))

    page.on("websocket", watch)
    page.goto(app_server["base"])
    _submit(page, "lee", PASSWORD)
    page.get_by_role("heading", name="Inbox").wait_for()
    page.wait_for_timeout(2500)  # a few automatic refreshes over the websocket

    (cookie,) = _session_cookies(context)
    token = cookie["value"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert sessions.resolve(runner.db, token).name == "lee"  # the real session token
    script_cookies = page.evaluate("document.cookie")
    assert "hitl_session" not in script_cookies and token not in script_cookies
    html = page.content()
    assert token not in html and sha256_hex(token) not in html
    assert frames and not any(token.encode() in frame for frame in frames)

    second = context.new_page()  # another tab is logged in by the cookie the browser sends
    second.goto(app_server["base"])
    second.get_by_role("heading", name="Inbox").wait_for()
    assert token not in second.content() and "hitl_session" not in second.evaluate("document.cookie")
    context.close()


def _headers(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return {k.lower(): v for k, v in response.headers.items()}


def test_other_sites_cannot_frame_the_app(app_server, browser):
    base, port = app_server["base"], app_server["port"]
    for path in ("/", "/inbox", "/login", "/_stcore/health"):
        headers = _headers(base + path)
        assert headers["content-security-policy"] == "frame-ancestors 'self'", path
        assert headers["x-frame-options"] == "SAMEORIGIN", path

    page = browser.new_page()
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))
    # localhost and 127.0.0.1 are different origins on the same server: a page on one frames the other.
    page.goto(f"http://localhost:{port}/login")
    page.evaluate(
        """([cross, same]) => {
            for (const [id, src] of [['cross', cross], ['same', same]]) {
                const frame = document.createElement('iframe');
                frame.id = id; frame.src = src; document.body.appendChild(frame);
            }
        }""",
        [f"http://127.0.0.1:{port}/login", f"http://localhost:{port}/login"],
    )
    page.frame_locator("#same").get_by_role("textbox", name="User name").wait_for()  # the control: 'self' frames
    page.wait_for_timeout(1000)
    assert page.frame_locator("#cross").get_by_role("textbox", name="User name").count() == 0
    assert any("frame-ancestors" in text for text in refusals), refusals
    page.close()
