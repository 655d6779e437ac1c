"""Accounts on SQLite and PostgreSQL: login throttling and lockout, session expiry, not-found alike.

Login attempts go through `login_guard.log_in` (what the app's login form calls): failures count per
account name and per client, a lock expires on its own, a locked account is refused even with the
right password, with one message whatever the name, and every outcome is on the audit trail.
Sessions end at their absolute expiry and after a period without activity. A review or thread the
user may not see is answered exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from hitl_core import audit, login_guard, sessions
from hitl_core.canonical import iso, loads, sha256_hex, use_clock, utc_now
from hitl_core.errors import BadInput, NotFound
from hitl_core.login_guard import LoginLocked, LoginPolicy
from hitl_core.users import add_user, get_user
from hitl_runtime import access
from tests.helpers import refund_request

PASSWORD = "correct horse battery"
POLICY = LoginPolicy()  # the defaults: 5 failures in 15 minutes lock for 15 minutes; 20 per client
LOCKED = "Too many failed login attempts. Try again in 15 minutes."


def _account(runner: Any, roles: tuple[str, ...] = ("support_agent",)) -> str:
    name = f"acct-{uuid.uuid4().hex[:8]}"
    add_user(runner.db, name, list(roles), password=PASSWORD, actor="test")
    return name


def _client() -> str:
    return f"ip:test-{uuid.uuid4().hex[:12]}"


def _events(runner: Any, *, user: str | None = None, client: str | None = None) -> list[dict[str, Any]]:
    """Login events in the order they were appended (all on the system chain), for one name or client."""
    rows = runner.db.read(
        "SELECT kind, actor, data FROM audit_events WHERE kind LIKE 'login%' ORDER BY stream, stream_seq"
    )
    events = [{**row, "data": loads(row["data"], {})} for row in rows]
    return [
        e
        for e in events
        if (user is None or e["data"]["user"] == user) and (client is None or e["data"]["client"] == client)
    ]


def _attempt(runner: Any, name: str, password: str, client: str, policy: LoginPolicy = POLICY) -> Any:
    """The user, None (wrong), or the LoginLocked refusal."""
    try:
        return login_guard.log_in(runner.db, name, password, client=client, policy=policy)
    except LoginLocked as refused:
        return refused


def _later(seconds: float) -> Any:
    moment = utc_now() + timedelta(seconds=seconds)
    return use_clock(lambda: moment)


# -- lockout -------------------------------------------------------------------------------------------
def test_five_failures_lock_the_account_even_for_the_right_password_until_the_lock_expires(runner):
    name, client = _account(runner), _client()
    assert [_attempt(runner, name, "guess", client) for _ in range(5)] == [None] * 5
    refused = _attempt(runner, name, PASSWORD, client)
    assert isinstance(refused, LoginLocked) and str(refused) == LOCKED
    assert 890 < refused.retry_after <= 900
    assert isinstance(_attempt(runner, name, PASSWORD, _client()), LoginLocked)  # from anywhere
    assert login_guard.locked_until(runner.db, "account", name) is not None

    kinds = [e["kind"] for e in _events(runner, user=name)]
    assert kinds == ["login_failed"] * 5 + ["login_locked", "login_refused", "login_refused"]
    failed, locked = _events(runner, user=name)[4:6]
    assert failed["actor"] == "anonymous" and failed["data"] == {
        "user": name,
        "client": client,
        "channel": "app",
        "failures": 5,
    }
    assert locked["data"]["scope"] == "account" and locked["data"]["failures"] == 5
    refusal = _events(runner, user=name)[6]
    assert (
        refusal["data"]["scopes"] == ["account"] and refusal["data"]["locked_until"] == locked["data"]["locked_until"]
    )
    assert audit.verify(runner.db).ok

    with _later(POLICY.lockout_seconds + 1):
        assert login_guard.locked_until(runner.db, "account", name) is None
        user = _attempt(runner, name, PASSWORD, client)
        assert user is not None and user.name == name
    assert _events(runner, user=name)[-1]["kind"] == "login_succeeded"
    assert _events(runner, user=name)[-1]["actor"] == name


def test_a_name_without_an_account_is_locked_and_answered_exactly_alike(runner):
    real, client = _account(runner), _client()
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    answers: dict[str, list[Any]] = {}
    for name in (real, ghost):
        answers[name] = [_attempt(runner, name, "guess", client) for _ in range(5)]
        answers[name].append(_attempt(runner, name, "guess", client))
    assert answers[real][:5] == answers[ghost][:5] == [None] * 5
    assert type(answers[real][5]) is type(answers[ghost][5]) is LoginLocked
    assert str(answers[real][5]) == str(answers[ghost][5]) == LOCKED
    assert [e["kind"] for e in _events(runner, user=real)] == [e["kind"] for e in _events(runner, user=ghost)]


def test_failures_count_within_the_window_only(runner):
    name, client = _account(runner), _client()
    for _ in range(4):
        assert _attempt(runner, name, "guess", client) is None
    with _later(POLICY.window_seconds + 1):  # the first four have aged out
        for _ in range(4):
            assert _attempt(runner, name, "guess", client) is None
        assert _attempt(runner, name, PASSWORD, client).name == name
    assert "login_locked" not in [e["kind"] for e in _events(runner, user=name)]


def test_a_success_clears_the_account_count_but_not_the_client_budget(runner):
    policy = LoginPolicy(account_failures=3, client_failures=5)
    mine, other, client = _account(runner), _account(runner), _client()
    for _ in range(2):
        assert _attempt(runner, other, "guess", client, policy) is None
    assert _attempt(runner, other, PASSWORD, client, policy).name == other  # other's count starts afresh
    for _ in range(2):
        assert _attempt(runner, other, "guess", client, policy) is None
    # Logging into one's own account does not buy a client more guesses on others: 4 failures so far.
    assert _attempt(runner, mine, PASSWORD, client, policy).name == mine
    assert _attempt(runner, f"ghost-{uuid.uuid4().hex[:6]}", "guess", client, policy) is None  # the 5th: locked
    refused = _attempt(runner, mine, PASSWORD, client, policy)
    assert isinstance(refused, LoginLocked) and str(refused) == LOCKED
    (locked,) = [e for e in _events(runner, client=client) if e["kind"] == "login_locked"]
    assert locked["data"]["scope"] == "client" and locked["data"]["failures"] == 5
    assert _events(runner, client=client)[-1]["data"]["scopes"] == ["client"]
    assert _attempt(runner, mine, PASSWORD, _client(), policy).name == mine  # another client is not locked


def test_attempts_at_the_same_time_cannot_exceed_the_limit(runner):
    name = _account(runner)
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: _attempt(runner, name, "guess", _client()), range(12)))
    checked = [e for e in _events(runner, user=name) if e["kind"] == "login_failed"]
    assert len(checked) == 5 and sum(isinstance(a, LoginLocked) for a in answers) == 7
    assert isinstance(_attempt(runner, name, PASSWORD, _client()), LoginLocked)


def test_unusable_names_and_clients_are_counted_without_reaching_the_database_raw(runner):
    client = "ip:" + "\x00" * 3 + "x" * 300
    name = "bad\x00name" + "y" * 200
    for _ in range(5):
        assert _attempt(runner, name, "guess", client) is None
    assert isinstance(_attempt(runner, name, "guess", client), LoginLocked)
    key = login_guard.subject_key(name, "")
    assert key.startswith("sha256:") and key == "sha256:" + sha256_hex(name)[:32]
    assert [e["kind"] for e in _events(runner, user=key)][-2:] == ["login_locked", "login_refused"]


def test_policy_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("HITL_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("HITL_LOGIN_CLIENT_MAX_FAILURES", "9")
    monkeypatch.setenv("HITL_LOGIN_WINDOW_SECONDS", "60")
    assert LoginPolicy.from_settings() == LoginPolicy(3, 9, 60.0, 900.0)
    for variable, value in (("HITL_LOGIN_LOCKOUT_SECONDS", "nonsense"), ("HITL_LOGIN_MAX_FAILURES", "-1")):
        with monkeypatch.context() as bad:
            bad.setenv(variable, value)
            with pytest.raises(BadInput, match=variable):  # a bad setting is one clear error, not a silent default
                LoginPolicy.from_settings()
    assert str(LoginLocked(30)) == "Too many failed login attempts. Try again in 1 minute."


# -- sessions ------------------------------------------------------------------------------------------
def test_a_session_ends_at_its_absolute_expiry_even_when_active(runner):
    user = get_user(runner.db, _account(runner))
    token = sessions.create(runner.db, user, ttl=3600, idle=1800)
    for minutes in (20, 40, 59):  # active every 20 minutes: never idle
        with _later(minutes * 60):
            assert sessions.resolve(runner.db, token) == user
    with _later(3601):
        assert sessions.resolve(runner.db, token) is None


def test_a_session_ends_after_its_idle_time_and_automatic_refreshes_do_not_keep_it(runner):
    user = get_user(runner.db, _account(runner))
    token = sessions.create(runner.db, user, ttl=8 * 3600, idle=600)
    with _later(500):
        assert sessions.resolve(runner.db, token) == user  # activity: the idle clock starts again
    with _later(1000):
        assert sessions.resolve(runner.db, token, activity=False) == user  # 500 s after the activity
    with _later(1150):
        assert sessions.resolve(runner.db, token, activity=False) is None  # 650 s: the refresh did not count
        assert sessions.resolve(runner.db, token) is None  # and it stays ended
    assert sessions.IDLE_SECONDS == 1800 and sessions.SESSION_SECONDS == 8 * 3600


def test_sessions_from_before_the_idle_limit_still_end_at_their_expiry(runner):
    user = get_user(runner.db, _account(runner))
    token = f"old-{uuid.uuid4().hex}"
    with runner.db.transaction() as tx:
        tx.execute(
            "INSERT INTO sessions (token_hash, user_name, created_at, expires_at) VALUES (:h, :u, :c, :e)",
            {"h": sha256_hex(token), "u": user.name, "c": iso(utc_now()), "e": iso(utc_now() + timedelta(hours=1))},
        )
    with _later(3000):
        assert sessions.resolve(runner.db, token) == user
    with _later(3700):
        assert sessions.resolve(runner.db, token) is None


def test_session_lifetimes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HITL_SESSION_SECONDS", "7200")
    assert sessions.lifetimes() == (7200.0, float(sessions.IDLE_SECONDS))
    monkeypatch.setenv("HITL_SESSION_IDLE_SECONDS", "0")
    with pytest.raises(BadInput, match="HITL_SESSION_IDLE_SECONDS"):
        sessions.lifetimes()


def test_logging_out_ends_every_session_and_is_audited(runner):
    user = get_user(runner.db, _account(runner))
    tokens = [sessions.create(runner.db, user) for _ in range(2)]
    assert sessions.revoke_all(runner.db, user.name) == 2
    assert [sessions.resolve(runner.db, t) for t in tokens] == [None, None]
    (event,) = audit.search(runner.db, kind="logout", actor=user.name)
    assert event["data"] == {"user": user.name, "sessions": 2, "channel": "app"}


# -- not found alike -------------------------------------------------------------------------------------
def _message(exc: pytest.ExceptionInfo[NotFound], identifier: str) -> str:
    return str(exc.value).replace(identifier, "ID")


def test_a_review_or_thread_one_may_not_see_is_answered_like_one_that_does_not_exist(runner):
    result = refund_request(runner, 30, user="eve")
    review_id, thread_id = result.reviews[0], result.thread_id
    sre = get_user(runner.db, _account(runner, ("sre",)))  # the ops agent's reviewer: not support's
    other_customer = get_user(runner.db, _account(runner, ("end_user",)))
    lead = get_user(runner.db, "lee")

    assert access.review(runner, lead, review_id)["id"] == review_id
    assert access.thread(runner, lead, thread_id)["thread_id"] == thread_id
    assert access.thread(runner, get_user(runner.db, "eve"), thread_id, own=True)["thread_id"] == thread_id

    missing_review, missing_thread = "rv-" + uuid.uuid4().hex[:16], "th-" + uuid.uuid4().hex[:8]
    with pytest.raises(NotFound) as hidden:
        access.review(runner, sre, review_id)
    with pytest.raises(NotFound) as unknown:
        access.review(runner, sre, missing_review)
    assert type(hidden.value) is type(unknown.value) is NotFound
    assert _message(hidden, review_id) == _message(unknown, missing_review) == "unknown review 'ID'"

    for reader, own in ((sre, False), (other_customer, True), (lead, True)):
        with pytest.raises(NotFound) as hidden_thread:
            access.thread(runner, reader, thread_id, own=own)
        with pytest.raises(NotFound) as unknown_thread:
            access.thread(runner, reader, missing_thread, own=own)
        assert _message(hidden_thread, thread_id) == _message(unknown_thread, missing_thread)
        assert _message(hidden_thread, thread_id) == "unknown thread 'ID'"
    assert "support" not in access.visible_agents(sre) and "ops" in access.visible_agents(sre)
