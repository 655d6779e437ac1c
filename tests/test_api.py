"""The HTTP API over real HTTP (uvicorn on a loopback port, one per module and backend), SQLite and PostgreSQL.

Every endpoint, the one-line problems it answers with, who may do what (the runtime's rules, reached
through the API), the throttling of wrong credentials, JWTs signed with a local key, masking at the
way in, a race of two reviewers over HTTP, and the real `hitl serve` command. Runs, replies and
decisions are queued: on SQLite the API's process runs them (its in-process worker), on PostgreSQL
a real `hitl worker` process beside the server does; most tests ask to wait (`Prefer: wait`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hitl_api.app import create_app
from hitl_core import audit, ledger, reviews, tokens
from hitl_core.settings import Settings
from hitl_core.users import add_user
from hitl_runtime.runner import Runner
from tests.api_server import digest, serving, worker_for
from tests.conftest import ACCOUNTS
from tests.helpers import free_port, unique
from tests.privacy_dump import dump

ISSUER = "https://idp.example.test"
AUDIENCE = "hitl-api"
CLIENT_LIMIT = 5
CARD = "4111 1111 1111 1111"
WAIT = {"Prefer": "wait=60"}
"""Hold the request until its job has finished (the server's cap is 60 s)."""
OTHERS = {"nina": ["end_user"]}
"""Another end user: not the requester of anything here, a reviewer of nothing."""


@dataclass
class Api:
    url: str
    runner: Runner
    tokens: dict[str, str]
    key: rsa.RSAPrivateKey
    database_url: str

    def client(self, user: str | None = None, *, source: str = "127.0.0.1", token: str | None = None) -> httpx.Client:
        headers = {}
        if token or user:
            headers["Authorization"] = f"Bearer {token or self.tokens[str(user)]}"
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=self.url, headers=headers, transport=transport, timeout=60)

    def call(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> httpx.Response:
        with self.client(user) as client:
            return client.request(method, path, **kwargs)

    def jwt(self, subject: str, **overrides: Any) -> str:
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "exp": int(time.time()) + 300, **overrides}
        return jwt.encode(claims, self.key, algorithm="RS256")


@pytest.fixture(scope="module")
def api(database_url: str) -> Any:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HITL_DATABASE_URL", database_url)
        patch.setenv("HITL_RESUME_GRACE_SECONDS", "3600")  # jobs apply decisions here, not the sweep
        settings = Settings(
            database_url=database_url,
            resume_grace_seconds=3600.0,
            worker_poll_seconds=0.2,
            lease_seconds=30.0,
            login_client_max_failures=CLIENT_LIMIT,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            jwt_public_key=public.decode(),
        )
        app = create_app(settings)
        runner = app.state.runner
        for name, roles in {**ACCOUNTS, **OTHERS}.items():
            add_user(runner.db, name, roles, actor="test")
        made = {name: tokens.create(runner.db, name, actor="test")["token"] for name in {**ACCOUNTS, **OTHERS}}
        with worker_for(database_url), serving(app) as url:
            yield Api(url, runner, made, key, database_url)


def refund(amount: float, *, message: str | None = None, thread_id: str | None = None) -> dict[str, Any]:
    order = f"o-{int(time.time() * 1000) % 900000 + 100000}"
    body: dict[str, Any] = {
        "agent": "support",
        "message": message or f"My kettle arrived broken. Can I get my ${amount:g} back for order {order}?",
        "context": {
            "customer": {"id": unique("c"), "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
            "order": {"id": order, "amount": amount, "currency": "USD", "days_since_delivery": 3},
        },
    }
    if thread_id:
        body["thread_id"] = thread_id
    return body


def finished(response: httpx.Response, *, posted: bool = True) -> dict[str, Any]:
    """The result of a job the server waited for: 200, the job done, `result` the synchronous call's body."""
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "done" and job["error"] is None, job
    if posted:
        assert response.headers["location"] == f"/jobs/{job['job_id']}"
    result: dict[str, Any] = job["result"]
    return result


def pending(api: Api, amount: float = 45, user: str = "eve", **kwargs: Any) -> dict[str, Any]:
    result = finished(api.call("POST", "/runs", user, json=refund(amount, **kwargs), headers=WAIT))
    assert result["status"] == "pending_review", result
    return result


def is_problem(response: httpx.Response, status: int, detail: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"} and body["status"] == status
    assert "\n" not in body["detail"] and "Traceback" not in body["detail"]
    if detail is not None:
        assert detail in body["detail"], body["detail"]
    return body


# -- health, the document, authentication ----------------------------------------------------------
def test_healthz_and_openapi_need_no_token(api):
    health = api.call("GET", "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["schema"] > 0
    document = api.call("GET", "/openapi.json").json()
    assert {
        "/runs",
        "/reviews",
        "/reviews/{review_id}/decisions",
        "/jobs/{job_id}",
        "/actions/{action_id}/rollback",
    } <= set(document["paths"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_missing_wrong_and_revoked_tokens_are_401(api):
    source = "127.0.0.3"  # a client of its own: these failures count against it alone
    with api.client(source=source) as anonymous:
        missing = is_problem(anonymous.get("/reviews"), 401, "missing credential")
        assert anonymous.get("/reviews").headers["www-authenticate"] == "Bearer"
    assert missing["type"].endswith("unauthorized")
    with api.client(source=source, token="hitl_" + "x" * 43) as wrong:
        is_problem(wrong.get("/reviews"), 401, "invalid or revoked API token")
    made = tokens.create(api.runner.db, "sam", label="soon revoked", actor="test")
    with api.client(source=source, token=made["token"]) as client:
        assert client.get("/reviews").status_code == 200
        tokens.revoke(api.runner.db, made["id"], actor="test")
        is_problem(client.get("/reviews"), 401, "invalid or revoked API token")
    # Each wrong credential is audited against the client; none names a token's secret.
    failed = [e for e in audit.search(api.runner.db, kind="login_failed", limit=50) if e["data"]["client"] == source]
    assert len(failed) == 2 and all(e["data"]["channel"] == "api" for e in failed)


def test_a_client_guessing_tokens_is_locked_out(api):
    source = "127.0.0.2"
    with api.client(source=source, token="hitl_guess") as guesser:
        for _ in range(CLIENT_LIMIT):
            is_problem(guesser.get("/reviews"), 401)
    with api.client("sam", source=source) as same_client:  # even the right token, from that client
        locked = is_problem(same_client.get("/reviews"), 429, "Too many failed login attempts")
        assert int(same_client.get("/reviews").headers["retry-after"]) > 0
    assert locked["type"].endswith("locked-out")
    with api.client("sam") as other_client:  # another client is not affected
        assert other_client.get("/reviews").status_code == 200
    kinds = [e["kind"] for e in audit.search(api.runner.db, limit=200) if e["data"].get("client") == source]
    assert "login_locked" in kinds and "login_refused" in kinds


def test_jwt_signed_by_the_configured_key_maps_to_the_account(api):
    with api.client(token=api.jwt("sam"), source="127.0.0.4") as client:
        assert client.get("/reviews").status_code == 200
    bad = {
        "expired": api.jwt("sam", exp=int(time.time()) - 3600),
        "other audience": api.jwt("sam", aud="someone-else"),
        "other issuer": api.jwt("sam", iss="https://evil.example.test"),
        "unknown account": api.jwt("nobody-here"),
        "other key": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "sam", "exp": int(time.time()) + 300},
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            algorithm="RS256",
        ),
        "unsigned": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "exp": int(time.time()) + 300}, None, algorithm="none"
        ),
    }
    for source, (why, token) in enumerate(bad.items(), start=10):  # one client each: no lockout here
        with api.client(token=token, source=f"127.0.1.{source}") as client:
            body = is_problem(client.get("/reviews"), 401)
            assert body["detail"].startswith(("invalid JWT", "the JWT names no account", "invalid or revoked")), why
    with api.client(token=api.jwt("eve"), source="127.0.0.4") as end_user:  # an account's roles, not the token's
        is_problem(end_user.get("/reviews"), 403, "may not read the inbox")


# -- runs, threads, reviews, decisions ---------------------------------------------------------------
def test_run_inbox_show_and_approve(api):
    result = pending(api, 45)
    (review_id,) = result["reviews"]
    inbox = api.call("GET", "/reviews", "sam", params={"agent": "support", "limit": 1000}).json()
    assert review_id in [r["id"] for r in inbox]
    paged = api.call("GET", "/reviews", "sam", params={"limit": 1, "offset": 0}).json()
    assert len(paged) == 1
    assert api.call("GET", "/reviews", "sam", params={"role": "support_lead"}).status_code == 403
    is_problem(api.call("GET", "/reviews", "sam", params={"sort": "bogus"}), 400, "unknown sort")
    is_problem(api.call("GET", "/reviews", "sam", params={"limit": 0}), 422)

    shown = api.call("GET", f"/reviews/{review_id}", "sam").json()
    expected = json.loads(json.dumps(api.runner.show(review_id), default=str))
    assert shown == expected  # what `hitl show --json` prints: the exact interrupt value included
    assert shown["interrupt"]["action_requests"][0]["name"] == "refund"

    # Unknown and not visible are answered alike.
    unknown = is_problem(api.call("GET", "/reviews/rv-nope", "nina"), 404)
    hidden = is_problem(api.call("GET", f"/reviews/{review_id}", "nina"), 404)
    assert hidden["detail"] == unknown["detail"].replace("rv-nope", review_id)
    is_problem(api.call("GET", f"/reviews/{review_id}", "eve"), 404)

    decided = api.call(
        "POST",
        f"/reviews/{review_id}/decisions",
        "sam",
        json={"decision": "approve", "expect_hash": shown["payload_hash"]},
        headers=WAIT,
    )
    body = finished(decided)
    assert body["status"] == "approved" and body["decided_by"] == "sam" and body["thread"]["status"] == "completed"
    decided_event = [
        e for e in audit.thread_history(api.runner.db, result["thread_id"]) if e["kind"] == "review_decided"
    ]
    assert decided_event[0]["data"]["channel"] == "api"
    again = is_problem(
        api.call("POST", f"/reviews/{review_id}/decisions", "sue", json={"decision": "approve"}), 409, "by sam"
    )
    assert "already decided" in again["detail"]


def test_inbox_search_over_http_is_the_core_search(api):
    marker = unique("blender")
    result = pending(api, 35, message=f"My {marker} jar cracked, refund the $35 please (50% off already).")
    found = api.call("GET", "/reviews", "sam", params={"search": marker.upper(), "limit": 1000}).json()
    assert [r["id"] for r in found] == result["reviews"]
    assert found[0]["request"].startswith(f"My {marker} jar") and "first_requested_at" in found[0]
    literal = api.call("GET", "/reviews", "sam", params={"search": f"{marker} jar%"}).json()
    assert literal == []  # '%' is literal: no request says "jar%"
    is_problem(api.call("GET", "/reviews", "sam", params={"search": "x" * 201}), 422)
    is_problem(api.call("GET", "/reviews", "sam", params={"search": "a\x00b"}), 400, "contains a NUL character")


@pytest.mark.parametrize(
    "path, params",
    [
        ("/reviews", {"action": "refund\x00"}),
        ("/reviews", {"agent": "\x00"}),
        ("/actions", {"agent": "sup\x00port"}),
        ("/metrics", {"agent": "\x00"}),
        ("/threads/t%00x", {}),  # percent-encoded: the client refuses a raw NUL
    ],
)
def test_a_nul_in_any_parameter_is_a_400_not_a_server_error(api, path, params):
    """PostgreSQL refuses NUL in text; found by the fuzzer as a 500 on GET /reviews?action=%00."""
    before = digest(api.runner.db)
    is_problem(api.call("GET", path, "ada", params=params), 400, "contains a NUL character")
    assert digest(api.runner.db) == before


def test_a_review_id_reads_the_same_everywhere_it_is_shown(api):
    """A review id derived from the thread once held a card-like run of digits (one in about 1,200), and
    every answer that masks its text showed it as `[CARD ****...]`: the requester could not be told the id."""
    result = pending(api, 45, thread_id="worst-27")  # its first review id, made as plain hex, read as a card
    (review_id,) = result["reviews"]
    assert "CARD" not in review_id
    hidden = is_problem(api.call("GET", f"/reviews/{review_id}", "nina"), 404)
    assert review_id in hidden["detail"]
    assert api.call("GET", f"/reviews/{review_id}", "sam").json()["id"] == review_id


def test_every_decision_type_and_its_checks(api):
    def decide(review_id: str, user: str, **body: Any) -> httpx.Response:
        return api.call("POST", f"/reviews/{review_id}/decisions", user, json=body, headers=WAIT)

    # Self-approval: a reviewer who made the request may not decide it.
    own = pending(api, 30, user="sam")
    is_problem(decide(own["reviews"][0], "sam", decision="approve"), 403, "sam made this request and cannot decide it")
    # Wrong tier: a refund of 500 needs a support lead.
    big = pending(api, 500)
    is_problem(decide(big["reviews"][0], "sam", decision="approve"), 403, "may not decide review")
    assert finished(decide(big["reviews"][0], "lee", decision="approve"))["status"] == "approved"

    # Bad input, one line each, and nothing recorded or queued.
    review_id = pending(api, 60)["reviews"][0]
    before = digest(api.runner.db)
    is_problem(decide(review_id, "sam", decision="maybe"), 400, "unknown decision 'maybe'")
    is_problem(decide(review_id, "sam", decision="approve", args={"amount": 1}), 400, "--args is only for edit")
    is_problem(decide(review_id, "sam", decision="edit", args={"amount": "sixty"}), 400, "amount")
    is_problem(decide(review_id, "sam", decision="request-info"), 400, "request-info needs --comment")
    is_problem(decide(review_id, "sam", decision="approve", expect_hash="0" * 64), 409, "changed since it was shown")
    is_problem(decide(review_id, "sam", decision="approve", surprise=1), 422, "surprise")
    assert digest(api.runner.db) == before

    edited = finished(
        decide(review_id, "sam", decision="edit", args={"amount": 50}, comment="price only", category="wrong_amount")
    )
    assert edited["status"] == "approved_with_edits"
    (entry,) = [a for a in ledger.list_entries(api.runner.db, thread_id=edited["thread"]["thread_id"])]
    assert entry["args"]["amount"] == 50

    rejected = finished(decide(pending(api, 40)["reviews"][0], "sue", decision="reject", comment="not eligible"))
    assert rejected["status"] == "rejected"

    escalated = finished(decide(pending(api, 70)["reviews"][0], "sam", decision="escalate", comment="lead please"))
    assert escalated["status"] == "escalated", escalated
    (next_review,) = escalated["thread"]["reviews"]
    is_problem(decide(next_review, "sam", decision="approve"), 403)
    assert finished(decide(next_review, "lee", decision="approve"))["thread"]["status"] == "completed"

    # request-info: the requester answers on their own thread, and only they may.
    asked = pending(api, 35)
    out = finished(decide(asked["reviews"][0], "sam", decision="request-info", comment="Which colour was the kettle?"))
    assert out["status"] == "needs_info" and out["thread"]["status"] == "needs_info"
    thread_id = asked["thread_id"]
    is_problem(api.call("POST", f"/threads/{thread_id}/reply", "sam", json={"message": "red"}), 404)
    is_problem(api.call("POST", f"/threads/{thread_id}/reply", "eve", json={"message": " "}), 400)
    answered = api.call("POST", f"/threads/{thread_id}/reply", "eve", json={"message": "It was red."}, headers=WAIT)
    assert finished(answered)["thread_id"] == thread_id
    assert answered.json()["kind"] == "reply" and answered.json()["thread_id"] == thread_id


def test_runs_refused_for_the_wrong_agent_role_or_thread(api):
    is_problem(api.call("POST", "/runs", "eve", json={**refund(10), "agent": "nope"}), 400, "unknown agent 'nope'")
    is_problem(api.call("POST", "/runs", "eve", json={**refund(10), "agent": "ops"}), 403, "may not start")
    is_problem(api.call("POST", "/runs", "eve", json={"agent": "support", "message": ""}), 400, "the message is empty")
    mine = pending(api, 20)
    # Another person's thread is answered like an unknown one, even to continue it.
    is_problem(api.call("POST", "/runs", "sam", json=refund(20, thread_id=mine["thread_id"])), 404, "unknown thread")
    busy = api.call("POST", "/runs", "eve", json=refund(20, thread_id=mine["thread_id"]))
    is_problem(busy, 409, "waiting for a review")


def test_thread_views_audit_actions_and_rollback(api):
    result = pending(api, 45)
    thread_id = result["thread_id"]
    finished(
        api.call(
            "POST", f"/reviews/{result['reviews'][0]}/decisions", "sam", json={"decision": "approve"}, headers=WAIT
        )
    )

    full = api.call("GET", f"/threads/{thread_id}", "sam").json()
    assert full["state"]["status"] == "completed" and full["thread"]["requester"] == "eve"
    assert [r["id"] for r in full["reviews"]] == result["reviews"]
    assert [e["kind"] for e in full["timeline"]][:2] == ["request_received", "review_requested"]
    (action,) = full["actions"]
    own = api.call("GET", f"/threads/{thread_id}", "eve").json()  # the requester: their chat's part only
    assert set(own) == {"thread", "state"} and own["state"]["reply"]
    unknown = is_problem(api.call("GET", "/threads/th-nope", "nina"), 404)
    hidden = is_problem(api.call("GET", f"/threads/{thread_id}", "nina"), 404)
    assert hidden["detail"] == unknown["detail"].replace("th-nope", thread_id)

    history = api.call("GET", f"/threads/{thread_id}/audit", "olga")  # the audit role reads any thread
    assert history.status_code == 200 and history.json() == full["timeline"]
    assert api.call("GET", f"/threads/{thread_id}/audit", "sam").json() == full["timeline"]
    is_problem(api.call("GET", f"/threads/{thread_id}/audit", "eve"), 404)

    listed = api.call("GET", "/actions", "sam").json()
    assert action["id"] in [a["id"] for a in listed]
    assert api.call("GET", "/actions", "nina").json() == []  # reviews no agent here
    assert [a["id"] for a in api.call("GET", "/actions", "eve", params={"thread": thread_id}).json()] == [action["id"]]

    url = f"/actions/{action['id']}/rollback"
    is_problem(api.call("POST", url, "sam", json={"reason": "  "}), 400, "the reason is empty")
    is_problem(api.call("POST", url, "nina", json={"reason": "x"}), 404, "unknown action")
    is_problem(api.call("POST", url, "eve", json={"reason": "x"}), 403, "may not roll back")
    done = api.call("POST", url, "sam", json={"reason": "customer found the parcel"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "rolled_back" and done.json()["rolled_back_by"] == "sam"
    assert api.call("POST", url, "sam", json={"reason": "again"}).status_code in (400, 409)


def test_audit_verify_and_metrics_for_oversight_roles(api):
    pending(api, 15)
    verified = api.call("GET", "/audit/verify", "olga").json()
    assert verified["ok"] is True and verified["events"] > 0
    is_problem(api.call("GET", "/audit/verify", "sam"), 403)

    everything = api.call("GET", "/metrics", "ada").json()
    assert "support" in everything["per_agent"]
    is_problem(api.call("GET", "/metrics", "lee"), 403, "pass agent=")
    support = api.call("GET", "/metrics", "lee", params={"agent": "support", "since": "30d"})
    assert support.status_code == 200 and support.json()["per_agent"].keys() <= {"support"}
    is_problem(api.call("GET", "/metrics", "lee", params={"agent": "ops"}), 403)
    is_problem(api.call("GET", "/metrics", "ada", params={"since": "yesterday-ish"}), 400)
    is_problem(api.call("GET", "/metrics", "sam"), 403)


def test_an_unexpected_error_is_a_generic_500(api, monkeypatch, caplog):
    from hitl_core import metrics

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"boom with card {CARD}")

    monkeypatch.setattr(metrics, "compute", broken)
    with caplog.at_level("ERROR", logger="hitl_api"):
        body = is_problem(api.call("GET", "/metrics", "ada"), 500)
    assert "boom" not in body["detail"] and "RuntimeError" not in body["detail"]
    assert "boom" in caplog.text and CARD not in caplog.text  # the log has it, masked


# -- the race and masking ---------------------------------------------------------------------------
def test_two_reviewers_race_over_http_one_is_queued_one_refused(api):
    result = pending(api, 45)
    (review_id,) = result["reviews"]
    barrier = threading.Barrier(2)
    answers: dict[str, httpx.Response] = {}

    def reviewer(name: str) -> None:
        with api.client(name) as client:
            barrier.wait()
            answers[name] = client.post(f"/reviews/{review_id}/decisions", json={"decision": "approve"})

    workers = [threading.Thread(target=reviewer, args=(n,)) for n in ("sam", "sue")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [202, 409], {n: r.text for n, r in answers.items()}
    winner = next(n for n, r in answers.items() if r.status_code == 202)
    loser = next(r for r in answers.values() if r.status_code == 409)
    assert f"already decided (approved) by {winner}" in loser.json()["detail"]
    done = finished(api.call("GET", answers[winner].headers["location"], winner, headers=WAIT), posted=False)
    assert done["decided_by"] == winner and done["thread"]["status"] == "completed"
    assert len(ledger.list_entries(api.runner.db, thread_id=result["thread_id"])) == 1


# -- queued work: 202 and the job, waiting for it ------------------------------------------------------
def test_a_queued_run_completes_and_its_job_returns_the_result(api):
    accepted = api.call("POST", "/runs", "eve", json=refund(45))
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert accepted.headers["location"] == f"/jobs/{job['job_id']}" and "preference-applied" not in accepted.headers
    assert job["kind"] == "run" and job["requested_by"] == "eve" and job["thread_id"].startswith("th")
    assert job["status"] in ("queued", "running", "done")
    polled = api.call("GET", accepted.headers["location"], "eve", params={"wait": "true"})
    result = finished(polled, posted=False)
    assert result["thread_id"] == job["thread_id"] and result["status"] == "pending_review"
    assert result["action"]["name"] == "refund" and len(result["reviews"]) == 1
    # The body `hitl run --json` prints, as the thread stands now.
    assert result == api.call("GET", f"/threads/{job['thread_id']}", "eve").json()["state"]
    assert api.call("GET", accepted.headers["location"], "eve").json() == polled.json()  # kept


def test_a_queued_decision_executes_exactly_once(api):
    result = pending(api, 45)
    (review_id,) = result["reviews"]
    accepted = api.call("POST", f"/reviews/{review_id}/decisions", "sam", json={"decision": "approve"})
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["kind"] == "decision" and job["review_id"] == review_id and job["thread_id"] == result["thread_id"]
    recorded = reviews.get(api.runner.db, review_id)  # recorded before the answer, whatever the worker has done
    assert recorded["status"] == "approved" and recorded["decided_by"] == "sam"

    body = finished(api.call("GET", accepted.headers["location"], "sam", headers=WAIT), posted=False)
    assert {k: body[k] for k in ("review_id", "status", "decided_by")} == {
        "review_id": review_id,
        "status": "approved",
        "decided_by": "sam",
    }
    assert set(body) == {"review_id", "status", "decided_by", "thread"}  # `hitl decide --json`'s shape
    assert body["thread"]["status"] == "completed" and body["thread"]["thread_id"] == result["thread_id"]
    (entry,) = ledger.list_entries(api.runner.db, thread_id=result["thread_id"])
    assert entry["status"] == "executed" and entry["args"]["amount"] == 45
    kinds = [e["kind"] for e in audit.thread_history(api.runner.db, result["thread_id"])]
    assert kinds.count("review_decided") == 1
    again = is_problem(api.call("POST", f"/reviews/{review_id}/decisions", "sue", json={"decision": "approve"}), 409)
    assert "already decided (approved) by sam" in again["detail"]
    assert len(ledger.list_entries(api.runner.db, thread_id=result["thread_id"])) == 1


def test_a_job_is_invisible_to_anyone_but_its_submitter(api):
    accepted = api.call("POST", "/runs", "eve", json=refund(25))
    assert accepted.status_code == 202, accepted.text
    url, job_id = accepted.headers["location"], accepted.json()["job_id"]
    unknown = is_problem(api.call("GET", "/jobs/job-nope", "nina"), 404, "unknown job")
    for other in ("nina", "sam", "ada"):  # another requester, a reviewer of the agent, an admin
        hidden = is_problem(api.call("GET", url, other, params={"wait": "true"}), 404)
        assert hidden["detail"] == unknown["detail"].replace("job-nope", job_id)
    is_problem(api.call("GET", url), 401)
    assert finished(api.call("GET", url, "eve", headers=WAIT), posted=False)["status"] == "pending_review"


def test_prefer_wait_answers_200_with_the_result(api):
    waited = api.call("POST", "/runs", "eve", json=refund(45), headers={"Prefer": "wait=30"})
    assert waited.headers["preference-applied"] == "wait=30"
    result = finished(waited)
    assert result["status"] == "pending_review" and result["action"]["name"] == "refund"
    capped = api.call("POST", "/runs", "eve", json=refund(45), headers={"Prefer": "respond-async, wait=999"})
    assert capped.headers["preference-applied"] == "wait=60"
    assert finished(capped)["status"] == "pending_review"
    queried = api.call("POST", "/runs", "eve", json=refund(45), params={"wait": "true"})
    assert finished(queried)["status"] == "pending_review" and "preference-applied" not in queried.headers

    # A bad `wait` parameter is refused before anything is queued; a malformed preference is ignored (RFC 7240).
    before = digest(api.runner.db)
    is_problem(api.call("POST", "/runs", "eve", json=refund(45), params={"wait": "maybe"}), 422, "wait")
    assert digest(api.runner.db) == before
    ignored = api.call("POST", "/runs", "eve", json=refund(45), headers={"Prefer": "wait=soon"})
    assert ignored.status_code == 202 and "preference-applied" not in ignored.headers
    assert finished(api.call("GET", ignored.headers["location"], "eve", headers=WAIT), posted=False)


def test_card_numbers_and_secrets_never_reach_storage(api):
    secret = "sk-proj-Q9x7Vb2Lm4Nc8Kd1Zt6Rw3Yp"
    body = refund(45, message=f"Refund 45 for my kettle please, card {CARD}, my api key: {secret}")
    body["context"]["customer"]["name"] = f"Eve {CARD}"
    result = finished(api.call("POST", "/runs", "eve", json=body, headers=WAIT))
    review_id = result["reviews"][0]
    rejected = api.call(
        "POST",
        f"/reviews/{review_id}/decisions",
        "sam",
        json={"decision": "reject", "comment": f"card {CARD}"},
        headers=WAIT,
    )
    assert finished(rejected)["status"] == "rejected"
    is_problem(api.call("GET", f"/threads/{CARD.replace(' ', '')}", "sam"), 404)
    refused = api.call("POST", "/runs", "eve", json={**refund(5), "thread_id": CARD.replace(" ", "")})
    assert CARD.replace(" ", "") not in refused.text
    stored = dump(api.runner.db)
    for clear in (CARD, CARD.replace(" ", ""), secret.lower()):
        assert clear not in stored
    assert "****1111" in stored  # masked, not dropped


# -- the real command ----------------------------------------------------------------------------------
def test_hitl_serve_command_serves_until_stopped(api, tmp_path):
    port = free_port()
    env = {**os.environ, "HITL_DATABASE_URL": api.database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "hitl_cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "hitl serve did not start"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        inbox = httpx.get(f"{url}/reviews", headers={"Authorization": f"Bearer {api.tokens['sam']}"}, timeout=30)
        assert inbox.status_code == 200 and isinstance(inbox.json(), list)
        card_path = httpx.get(f"{url}/threads/{CARD.replace(' ', '')}", timeout=30)
        assert card_path.status_code == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then ends by the signal it was sent (as the shell expects).
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "GET /reviews" in output and CARD.replace(" ", "") not in output  # the access log, masked
    if api.database_url.startswith("postgresql"):  # queued work needs a worker there, and the server says so
        assert "carried out by `hitl worker` processes" in output


def test_serve_rejects_a_bad_port_in_one_line(tmp_path):
    env = {**os.environ, "HITL_DATABASE_URL": f"sqlite:///{tmp_path}/h.db"}
    for argv in (["--port", "70000"], ["--port", "abc"]):
        done = subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", "serve", *argv], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--port" in done.stderr


def test_serve_rejects_a_bad_jwt_setting_in_one_line(tmp_path):
    env = {
        **os.environ,
        "HITL_DATABASE_URL": f"sqlite:///{tmp_path}/h.db",
        "HITL_JWT_ISSUER": ISSUER,
        "HITL_JWT_AUDIENCE": AUDIENCE,
    }
    done = subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "HITL_JWT_ISSUER needs exactly one of" in done.stderr


# -- JWT settings, without a server -------------------------------------------------------------------
def test_jwt_verifier_reads_a_configured_claim_and_refuses_bad_settings():
    from hitl_api.oidc import InvalidJwt, JwtVerifier
    from hitl_core.errors import BadInput

    secret = "s3cret-shared-with-the-provider-0123456789"
    verifier = JwtVerifier(
        Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_secret=secret, jwt_claim="preferred_username")
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "preferred_username": "sam", "exp": time.time() + 60}
    assert verifier.account(jwt.encode(claims, secret, algorithm="HS256")) == "sam"
    with pytest.raises(InvalidJwt, match="no 'preferred_username' claim"):
        verifier.account(jwt.encode({**claims, "preferred_username": None}, secret, algorithm="HS256"))
    with pytest.raises(InvalidJwt, match="invalid JWT"):
        verifier.account(jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret, algorithm="HS256"))
    for bad, message in (
        ({"jwt_secret": secret}, "without HITL_JWT_AUDIENCE"),
        ({"jwt_audience": AUDIENCE}, "exactly one of"),
        ({"jwt_audience": AUDIENCE, "jwt_secret": secret, "jwt_jwks_url": "https://idp/keys"}, "exactly one of"),
        ({"jwt_audience": AUDIENCE, "jwt_secret": secret, "jwt_algorithms": "HS256,none"}, "'none'"),
        ({"jwt_audience": AUDIENCE, "jwt_public_key": "/no/such/key.pem"}, "no such file"),
    ):
        with pytest.raises(BadInput, match=message):
            JwtVerifier(Settings(jwt_issuer=ISSUER, **bad))


def test_jwt_verifier_fetches_a_key_set_by_kid_from_a_local_server():
    import http.server

    from hitl_api.oidc import InvalidJwt, JwtVerifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "use": "sig"}
    document = json.dumps({"keys": [jwk]}).encode()

    class KeySet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), KeySet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        verifier = JwtVerifier(Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_url=url))
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "lee", "exp": int(time.time()) + 60}
        assert verifier.account(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})) == "lee"
        with pytest.raises(InvalidJwt):
            verifier.account(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "unknown"}))
    finally:
        server.shutdown()


def test_ignore_over_http_dismisses_where_the_policy_allows_it(api):
    def decide(review_id: str, user: str, **body: Any) -> httpx.Response:
        return api.call("POST", f"/reviews/{review_id}/decisions", user, json=body, headers=WAIT)

    # A refund may not be dismissed under the shipped policy: 403, one line, nothing recorded.
    refund_review = pending(api, 45)["reviews"][0]
    before = digest(api.runner.db)
    is_problem(decide(refund_review, "lee", decision="ignore", comment="dup"), 403, "does not allow ignore on refund")
    assert digest(api.runner.db) == before

    ticket = {
        "agent": "support",
        "message": "Thanks, all sorted now, you can close the ticket.",
        "context": {
            "customer": {"id": unique("c"), "name": "Eve Example", "tier": "gold", "lifetime_value": 150},
            "ticket": {"id": f"T-{int(time.time() * 1000) % 900000 + 100000}", "status": "open"},
        },
    }
    opened = finished(api.call("POST", "/runs", "eve", json=ticket, headers=WAIT))
    (review_id,) = opened["reviews"]
    shown = api.call("GET", f"/reviews/{review_id}", "sam").json()
    assert shown["interrupt"]["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject", "ignore"]
    is_problem(decide(review_id, "sam", decision="ignore"), 400, "ignore needs --comment")
    out = finished(decide(review_id, "sam", decision="ignore", comment="duplicate of another ticket"))
    assert out["status"] == "dismissed" and out["thread"]["status"] == "dismissed"
    assert "duplicate" not in out["thread"]["reply"]
    assert ledger.list_entries(api.runner.db, thread_id=opened["thread_id"]) == []
    assert reviews.get(api.runner.db, review_id)["decided_by"] == "sam"
    is_problem(decide(review_id, "sue", decision="approve"), 409, "already decided (dismissed) by sam")
