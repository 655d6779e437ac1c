"""The app's HTTP side (`ui/web.py`): the login form, the session cookie, security headers, the listening address.

The routes are driven in-process through Starlette's test client over a seeded SQLite database; the
last test starts the real `hitl ui` and looks at the socket it listens on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hitl_core import audit, sessions
from hitl_core.settings import Settings
from hitl_lab.demo import DEMO_PASSWORD, seed
from hitl_runtime.runner import Runner
from tests.helpers import free_port, stop
from ui import services, web

FORM = {"name": "lee", "password": DEMO_PASSWORD, "next": "/inbox"}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    url = f"sqlite:///{tmp_path_factory.mktemp('web')}/web.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HITL_DATABASE_URL", url)
        instance = Runner(Settings(database_url=url))
        assert seed(instance)["problems"] == []
        yield instance
        instance.close()


@pytest.fixture
def client(runner: Runner, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("HITL_DATABASE_URL", runner.db.url)
    monkeypatch.delenv("HITL_COOKIE_SECURE", raising=False)
    app = Starlette(routes=web.routes(), middleware=web.middleware())
    with TestClient(app, base_url="http://app.test", follow_redirects=False) as test_client:
        yield test_client


def _cookie_header(response: Any) -> str:
    (header,) = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    return str(header)


def _token(response: Any) -> str:
    return _cookie_header(response).split(";", 1)[0].split("=", 1)[1]


def test_the_login_form_sets_an_httponly_cookie_and_never_shows_the_token(client, runner):
    form = client.get("/login", params={"next": "/review?id=rv-1"})
    assert form.status_code == 200 and 'name="next" value="/review?id=rv-1"' in form.text
    assert form.headers["cache-control"] == "no-store"
    response = client.post("/login", data=FORM)
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    attributes = [part.strip().lower() for part in _cookie_header(response).split(";")]
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
    assert "secure" not in attributes  # plain http, HITL_COOKIE_SECURE unset (auto)
    assert f"max-age={sessions.SESSION_SECONDS}" in attributes
    token = _token(response)
    assert sessions.resolve(runner.db, token).name == "lee"
    assert token not in response.text
    assert client.get("/login", params={"next": "/inbox"}).headers["location"] == "/inbox"  # already logged in


def test_the_cookie_is_secure_behind_tls_or_when_configured(client, runner, monkeypatch):
    tls = TestClient(client.app, base_url="https://app.test", follow_redirects=False)
    assert "secure" in _cookie_header(tls.post("/login", data=FORM)).lower().split("; ")
    monkeypatch.setenv("HITL_COOKIE_SECURE", "true")
    assert "secure" in _cookie_header(client.post("/login", data=FORM)).lower().split("; ")
    monkeypatch.setenv("HITL_COOKIE_SECURE", "false")
    assert "secure" not in _cookie_header(tls.post("/login", data=FORM)).lower().split("; ")


def test_wrong_password_and_lockout_answers(client, runner, monkeypatch):
    monkeypatch.setenv("HITL_LOGIN_MAX_FAILURES", "2")
    for name in ("sri", "no-such-account"):
        for _ in range(2):
            wrong = client.post("/login", data={**FORM, "name": name, "password": "wrong"})
            assert wrong.status_code == 401 and 'role="alert">Wrong user name or password.<' in wrong.text
            assert "set-cookie" not in wrong.headers and f'value="{name}"' in wrong.text
        locked = client.post("/login", data={**FORM, "name": name})  # the right password for sri
        assert locked.status_code == 429 and "set-cookie" not in locked.headers
        assert 'role="alert">Too many failed login attempts. Try again in 15 minutes.<' in locked.text
        assert 890 < int(locked.headers["retry-after"]) <= 900
    clients = {e["data"]["client"] for e in audit.search(runner.db, kind="login_failed")}
    assert clients == {"ip:testclient"}


def test_a_login_posted_from_another_site_is_refused_before_any_check(client, runner):
    before = len(audit.search(runner.db, kind="login_succeeded")) + len(audit.search(runner.db, kind="login_failed"))
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}, {"origin": "null"}):
        refused = client.post("/login", data=FORM, headers=headers)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers, headers
    same = client.post("/login", data=FORM, headers={"origin": "http://app.test", "sec-fetch-site": "same-origin"})
    assert same.status_code == 303
    after = len(audit.search(runner.db, kind="login_succeeded")) + len(audit.search(runner.db, kind="login_failed"))
    assert after == before + 1


def test_an_empty_or_oversized_form_is_not_an_attempt(client, runner):
    def attempts() -> int:
        return len(runner.db.read("SELECT id FROM audit_events WHERE kind LIKE 'login%'"))

    before = attempts()
    assert client.post("/login", data={"name": "lee", "password": ""}).status_code == 400
    oversized = b"name=lee&password=" + b"x" * 9000
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/login", content=oversized, headers=headers).status_code == 400
    assert client.post("/login", content=b"&".join([b"a=1"] * 20), headers=headers).status_code == 400
    assert attempts() == before


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "inbox", "/a\nb"]
)
def test_after_login_only_same_site_paths(client, target):
    response = client.post("/login", data={**FORM, "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_stale_cookie_is_dropped_with_a_notice(client, runner):
    token = _token(client.post("/login", data=FORM))
    sessions.revoke_all(runner.db, "lee")
    client.cookies.set(services.COOKIE, token)
    page = client.get("/login")
    assert page.status_code == 200 and "Your session has ended" in page.text
    cleared = [part.strip().lower() for part in _cookie_header(page).split(";")]
    assert cleared[0] == f'{services.COOKIE}=""' and "max-age=0" in cleared


def test_every_response_carries_the_frame_and_sniffing_headers(client):
    for response in (client.get("/login"), client.post("/login", data={**FORM, "password": "x"}), client.get("/nope")):
        assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["x-content-type-options"] == "nosniff"


def _listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (Linux: /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                if len(address) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8)]
                    found.add(socket.inet_ntop(socket.AF_INET6, b"".join(words)))
    return found


@contextmanager
def _hitl_ui(runner: Runner, folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, dict[str, str]]]:
    """The real `hitl ui` on a free port, once its health check answers: the process, the port, the headers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["HITL_DATABASE_URL"] = runner.db.url
    process = subprocess.Popen(
        [sys.executable, "-m", "hitl_cli.main", "ui", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as health:
                    headers = dict(health.headers.items())
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("hitl ui did not start")
                time.sleep(0.3)
        yield process, port, headers
    finally:
        stop(process, timeout=15)


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's socket table")
def test_hitl_ui_listens_on_this_machine_only_and_serves_the_headers(runner, tmp_path):
    with _hitl_ui(runner, tmp_path) as (_, port, headers):
        assert _listening(port) == {"127.0.0.1"}
        assert headers["content-security-policy"] == "frame-ancestors 'self'"
        assert headers["x-frame-options"] == "SAMEORIGIN"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as form:
            assert b'<button type="submit">Log in</button>' in form.read()


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's socket table")
def test_stopping_hitl_ui_stops_the_app_it_serves(runner, tmp_path):
    """`hitl ui` serves the app from a child process: a SIGTERM to it (a supervisor's stop) once left the app
    serving on its port, orphaned."""
    with _hitl_ui(runner, tmp_path) as (process, port, _):
        process.terminate()
        process.wait(timeout=30)
        deadline = time.monotonic() + 30  # the app's own shutdown, not a figure under test
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _listening(port) == set()
