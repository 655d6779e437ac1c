"""Reviewer notifications end to end, on SQLite and PostgreSQL: the outbox, a local webhook receiver and SMTP server.

Each event (a new review, an escalation, a deadline approaching, an expiry with its fallback, a decision
applied) reaches exactly the channels configured for its recipients; webhooks are signed; a receiver
that refuses for a while loses nothing; a message that keeps failing is dead-lettered, listed and
retried; a rolled-back review leaves no notification; a bad configuration is one line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import pytest

from hitl_core import outbox, reviews, tokens
from hitl_core.canonical import iso, parse_iso, utc_now
from hitl_core.errors import BadInput
from hitl_runtime import notifications
from tests.helpers import free_port, refund_request, unique, vague_request
from tests.notify_fixtures import APP, SECRET, Mailbox, Receiver, mailbox, receiver, text_of, wait_for

__all__ = ["mailbox", "receiver"]  # fixtures

LATER = iso(utc_now() + timedelta(days=2))


@pytest.fixture(autouse=True)
def _quiet_outbox(runner: Any) -> None:
    """Each test starts with an empty outbox and no other review waiting (the database is the module's)."""
    with runner.db.transaction() as tx:
        tx.execute("DELETE FROM notifications")
        tx.execute("UPDATE reviews SET status = 'withdrawn' WHERE status = 'pending'")


def configured(settings: Any, *urls: str, **changes: Any) -> Any:
    """The test's settings with these notification URLs and the webhook secret."""
    return settings.model_copy(update={"notify_urls": tuple(urls), "webhook_secret": SECRET, "app_url": APP, **changes})


def deliver(runner: Any, settings: Any, now: str | None = None) -> dict[str, Any]:
    return notifications.deliver_due(runner, settings, now=now)


def pending_review(result: Any) -> str:
    assert result.status == "pending_review", result
    (review_id,) = result.reviews
    return str(review_id)


def rows(runner: Any, review_id: str) -> list[dict[str, Any]]:
    return [r for r in notifications.listing(runner, limit=1000) if r["review_id"] == review_id]


def verified(request: Any) -> bool:
    return notifications.verify_signature(
        SECRET, request.headers["x-hitl-timestamp"], request.body, request.headers["x-hitl-signature"]
    )


# -- each event, to exactly its recipients --------------------------------------------------------------
def test_a_new_review_reaches_its_tier_by_signed_webhook_and_email(runner, settings, receiver, mailbox):
    chosen = configured(
        settings,
        receiver.url("/agents").replace("json://", "support_agent=json://"),
        "support_lead=" + mailbox.url("leads@example.com"),
        "requester=" + receiver.url("/requester"),
        "compliance_officer=" + receiver.url("/compliance"),
    )
    review_id = pending_review(refund_request(runner, 45))
    (row,) = rows(runner, review_id)
    assert (row["event"], row["status"], row["recipient"]) == (
        "review_requested",
        "pending",
        ["role:support_agent", "role:support_lead"],
    )

    report = deliver(runner, chosen)
    assert (report["sent"], report["retried"], report["dead"]) == (1, 0, 0)
    (hook,) = receiver.requests
    assert hook.path == "/agents" and hook.status == 200
    document = hook.document
    assert document["event"] == "review_requested" and document["review_id"] == review_id
    assert document["link"] == f"{APP}/review?id={review_id}"
    assert document["data"]["amount"] == 45 and document["data"]["tier"] == "Support agent (up to 200)"
    assert document["data"]["roles"] == ["support_agent", "support_lead"]
    assert hook.headers["idempotency-key"] == document["idempotency_key"] == f"hitl:review_requested:{review_id}"
    assert verified(hook)

    assert wait_for(lambda: len(mailbox.messages) == 1)
    (to, mail), *_ = mailbox.messages
    assert to == ["leads@example.com"]
    assert "Review waiting: refund 45.00 USD" in str(mail["Subject"])
    body = text_of(mail)
    for expected in (
        "Support agent (up to 200)",
        "roles support_agent, support_lead",
        "Risk: ",
        "Amount: 45.00 USD",
        "Deadline: ",
        "Requested by: eve",
        f"{APP}/review?id={review_id}",
    ):
        assert expected in body, (expected, body)

    assert deliver(runner, chosen)["sent"] == 0  # sent once
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1
    (row,) = rows(runner, review_id)
    assert row["status"] == "sent" and row["attempts"] == 1 and row["delivered"] == 2


def test_a_signature_verifies_with_the_secret_only_and_not_on_a_tampered_body(runner, settings, receiver):
    chosen = configured(settings, receiver.url("/hook"))
    pending_review(refund_request(runner, 30))
    deliver(runner, chosen)
    (hook,) = receiver.requests
    stamp, signature = hook.headers["x-hitl-timestamp"], hook.headers["x-hitl-signature"]
    assert signature.startswith("sha256=") and verified(hook)
    assert not notifications.verify_signature("another-secret-0123456789", stamp, hook.body, signature)
    tampered = hook.body.replace(b'"amount":30', b'"amount":3000')
    assert tampered != hook.body
    assert not notifications.verify_signature(SECRET, stamp, tampered, signature)
    assert not notifications.verify_signature(SECRET, str(int(stamp) + 1), hook.body, signature)
    old = float(stamp) + 3600  # a replay an hour later is refused by the timestamp check
    assert not notifications.verify_signature(SECRET, stamp, hook.body, signature, now=old)


def test_an_escalation_goes_to_the_next_tier_only(runner, settings, receiver):
    chosen = configured(
        settings,
        "support_agent=" + receiver.url("/agents"),
        "support_lead=" + receiver.url("/leads"),
        "requester=" + receiver.url("/requester"),
    )
    review_id = pending_review(refund_request(runner, 50))
    deliver(runner, chosen)
    assert sorted(r.path for r in receiver.requests) == ["/agents", "/leads"]  # the first tier: agents and leads
    receiver.requests.clear()

    out = runner.decide(review_id, "escalate", "sam", comment="unsure about this customer")
    (lead_review,) = out["thread"]["reviews"]
    report = deliver(runner, chosen)
    assert report["sent"] == 1
    (hook,) = receiver.requests
    assert hook.path == "/leads"
    document = hook.document
    assert (document["event"], document["review_id"]) == ("review_escalated", lead_review)
    assert document["data"]["escalated_from"] == {
        "review_id": review_id,
        "by": "sam",
        "comment": "unsure about this customer",
    }
    assert document["data"]["roles"] == ["support_lead"] and document["data"]["tier_index"] == 1
    assert "Escalated to Support lead" in document["title"] and "by sam" in document["message"]
    assert rows(runner, review_id)[0]["event"] == "review_requested"  # nothing to the requester: still in review


def test_a_deadline_warning_is_written_once_at_the_configured_share(runner, settings, receiver):
    chosen = configured(settings, "support_agent=" + receiver.url("/agents"), notify_deadline_share=0.75)
    review_id = pending_review(refund_request(runner, 25))
    deliver(runner, chosen)
    receiver.requests.clear()
    review = reviews.get(runner.db, review_id)
    start, end = parse_iso(review["created_at"]), parse_iso(review["deadline"])

    def at(share: float) -> str:
        return iso(start + (end - start) * share)

    assert deliver(runner, chosen, now=at(0.5))["deadline_warnings"] == 0
    assert receiver.requests == []
    report = deliver(runner, chosen, now=at(0.8))
    assert (report["deadline_warnings"], report["sent"]) == (1, 1)
    (hook,) = receiver.requests
    assert (hook.document["event"], hook.document["review_id"]) == ("deadline_approaching", review_id)
    assert "Deadline approaching" in hook.document["title"] and "if nobody decides: reject" in hook.document["message"]
    assert deliver(runner, chosen, now=at(0.9))["deadline_warnings"] == 0  # once per review
    assert notifications.scan_deadlines(runner, chosen, now=at(0.95)) == 0
    assert len(receiver.requests) == 1

    # A review decided before its warning goes out: the warning is skipped, not sent.
    other = pending_review(refund_request(runner, 26))
    deliver(runner, chosen)
    receiver.requests.clear()
    moment = iso(parse_iso(reviews.get(runner.db, other)["deadline"]) - timedelta(minutes=1))
    assert notifications.scan_deadlines(runner, chosen, now=moment) == 1
    runner.decide(other, "approve", "sam")
    report = deliver(runner, chosen, now=moment)
    assert report["skipped"] == 2 and receiver.requests == []  # the warning, and the requester's (no channel)
    warning = next(r for r in rows(runner, other) if r["event"] == "deadline_approaching")
    assert warning["status"] == "skipped" and "decided before the warning" in warning["last_error"]


def test_an_expiry_tells_the_reviewers_the_fallback_and_the_requester_the_outcome(runner, settings, receiver):
    chosen = configured(settings, "support_agent=" + receiver.url("/agents"), "requester=" + receiver.url("/requester"))
    review_id = pending_review(refund_request(runner, 18))
    deliver(runner, chosen)
    receiver.requests.clear()

    runner.sweep(now=LATER)
    report = deliver(runner, chosen)
    assert report["sent"] == 2
    by_path = {r.path: r.document for r in receiver.requests}
    assert set(by_path) == {"/agents", "/requester"} and len(receiver.requests) == 2
    expired = by_path["/agents"]
    assert (expired["event"], expired["review_id"], expired["data"]["fallback"]) == (
        "review_expired",
        review_id,
        "reject",
    )
    assert "fallback was taken: reject" in expired["message"]
    told = by_path["/requester"]
    assert told["event"] == "decision_applied" and told["data"]["outcome"] == "declined (not reviewed in time)"
    assert told["link"] == f"{APP}/chat?thread={told['thread_id']}"
    assert "risk" not in told["data"] and "roles" not in told["data"]  # the requester reads no reviewer detail


def test_a_decision_applied_reaches_the_requester_when_they_have_a_channel(runner, settings, receiver):
    chosen = configured(settings, "requester=" + receiver.url("/requester"))
    review_id = pending_review(refund_request(runner, 40))
    out = runner.decide(review_id, "approve", "sam")
    assert out["thread"]["status"] == "completed"
    report = deliver(runner, chosen)
    assert report["sent"] == 1 and report["skipped"] == 1  # the review's own message had no channel here
    (hook,) = receiver.requests
    document = hook.document
    assert (document["event"], document["review_id"]) == ("decision_applied", review_id)
    assert document["data"]["outcome"] == "approved" and document["data"]["requester"] == "eve"
    assert "was approved" in document["title"] and document["data"]["target"]

    # An anonymous requester has no channel: nothing is written for them.
    anonymous = runner.run(
        "support",
        "My kettle arrived broken. Can I get my $41 back for order o-777111?",
        thread_id=unique("th"),
        context={
            "customer": {"id": unique("c"), "name": "Anon", "tier": "standard", "lifetime_value": 10},
            "order": {"id": "o-777111", "amount": 41, "currency": "USD", "days_since_delivery": 3},
        },
    )
    runner.decide(pending_review(anonymous), "approve", "sam")
    assert [r["event"] for r in rows(runner, anonymous.reviews[0])] == ["review_requested"]


def test_a_question_to_the_requester_reaches_them(runner, settings, receiver):
    chosen = configured(settings, "support_agent=" + receiver.url("/agents"), "requester=" + receiver.url("/requester"))
    result = vague_request(runner)
    assert result.status == "needs_info"
    assert deliver(runner, chosen)["sent"] == 1
    (hook,) = receiver.requests
    assert hook.path == "/requester" and hook.document["event"] == "question_asked"
    assert hook.document["data"]["question"] == result.question
    assert hook.document["link"] == f"{APP}/chat?thread={result.thread_id}"


def test_an_agents_policy_adds_its_own_channels(runner, settings, receiver, policy_dir):
    path = policy_dir / "support.yaml"
    path.write_text(
        path.read_text()
        + f"\nnotify:\n  support_lead: {receiver.url('/policy-leads')}\n  support_agent: [{receiver.url('/shared')}]\n"
    )
    chosen = configured(settings, receiver.url("/shared"), policy_dir=str(policy_dir))  # the same URL twice
    pending_review(refund_request(runner, 35))
    assert deliver(runner, chosen)["sent"] == 1
    assert sorted(r.path for r in receiver.requests) == ["/policy-leads", "/shared"]  # each URL once


# -- at least once, never lost -----------------------------------------------------------------------------
def test_a_refusing_receiver_loses_nothing_and_duplicates_only_under_one_key(runner, settings, receiver):
    chosen = configured(settings, "support_agent=" + receiver.url("/agents"), notify_backoff_seconds=10.0)
    review_ids = [pending_review(refund_request(runner, 20 + i)) for i in range(3)]
    receiver.answers = [500] * 4  # the receiver fails the first four requests
    moment = utc_now()
    reports = []
    for step in range(12):
        reports.append(deliver(runner, chosen, now=iso(moment + timedelta(minutes=5 * step))))
        if all(r["status"] == "sent" for rid in review_ids for r in rows(runner, rid)):
            break
    assert sum(r["retried"] for r in reports) == 4 and sum(r["dead"] for r in reports) == 0
    keys = {f"hitl:review_requested:{rid}" for rid in review_ids}
    accepted = [r.headers["idempotency-key"] for r in receiver.accepted()]
    assert sorted(accepted) == sorted(keys)  # every message arrived, once accepted
    assert {r.headers["idempotency-key"] for r in receiver.requests} == keys  # retries carry the same key
    for request in receiver.requests:
        assert verified(request)
    first = next(r for r in reports[0]["errors"])
    assert "HTTP 500" in first["error"] and first["attempts"] == 1


def test_a_receiver_not_listening_yet_is_tried_again_with_backoff(runner, settings):
    port = free_port()
    late = Receiver(port=port)
    chosen = configured(settings, f"support_agent=json://127.0.0.1:{port}/late", notify_backoff_seconds=60.0)
    review_id = pending_review(refund_request(runner, 22))
    moment = utc_now()
    report = deliver(runner, chosen, now=iso(moment))
    assert report["retried"] == 1 and "refused" in report["errors"][0]["error"].lower()
    (row,) = rows(runner, review_id)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert parse_iso(row["next_attempt_at"]) == moment + timedelta(seconds=60)
    assert deliver(runner, chosen, now=iso(moment + timedelta(seconds=30)))["retried"] == 0  # not due yet
    late.start()
    try:
        assert deliver(runner, chosen, now=iso(moment + timedelta(seconds=61)))["sent"] == 1
        (hook,) = late.requests
        assert hook.document["review_id"] == review_id
    finally:
        late.stop()


def test_a_retry_goes_only_to_the_channels_that_did_not_take_it(runner, settings, receiver):
    box = Mailbox(port=free_port())  # not started: the email channel fails at first
    chosen = configured(
        settings, "support_agent=" + receiver.url("/agents"), "support_agent=" + box.url("agents@example.com")
    )
    review_id = pending_review(refund_request(runner, 27))
    moment = utc_now()
    assert deliver(runner, chosen, now=iso(moment))["retried"] == 1
    assert len(receiver.requests) == 1
    box.start()
    try:
        assert deliver(runner, chosen, now=iso(moment + timedelta(hours=1)))["sent"] == 1
        assert wait_for(lambda: len(box.messages) == 1)
    finally:
        box.stop()
    assert len(receiver.requests) == 1  # the webhook that took it is not sent it again
    (row,) = rows(runner, review_id)
    assert row["status"] == "sent" and row["attempts"] == 2 and row["delivered"] == 2


def test_two_workers_never_send_the_same_notification(runner, settings, receiver):
    chosen = configured(settings, "support_agent=" + receiver.url("/agents"))
    review_ids = [pending_review(refund_request(runner, 60 + i)) for i in range(6)]
    receiver.delay = 0.1
    reports: list[dict[str, Any]] = []
    workers = [threading.Thread(target=lambda: reports.append(deliver(runner, chosen))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sum(r["sent"] for r in reports) == 6
    assert sorted(r.headers["idempotency-key"] for r in receiver.requests) == sorted(
        f"hitl:review_requested:{rid}" for rid in review_ids
    )


def test_after_the_last_attempt_a_message_is_dead_listed_and_retried_by_the_cli(
    runner, settings, receiver, monkeypatch, capsys
):
    from hitl_cli.main import main

    chosen = configured(settings, "support_agent=" + receiver.url("/agents"), notify_max_attempts=3)
    review_id = pending_review(refund_request(runner, 33))
    receiver.answers = [500] * 3
    moment = utc_now()
    outcomes = [deliver(runner, chosen, now=iso(moment + timedelta(minutes=10 * step))) for step in range(4)]
    assert [(o["retried"], o["dead"]) for o in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    (row,) = rows(runner, review_id)
    assert row["status"] == "dead" and row["attempts"] == 3 and "HTTP 500" in row["last_error"]

    monkeypatch.setenv("HITL_NOTIFY_URLS", "support_agent=" + receiver.url("/agents"))
    monkeypatch.setenv("HITL_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("HITL_TOKEN", tokens.create(runner.db, "sam", actor="test")["token"])
    assert main(["notifications", "--json"]) == 2  # a reviewer is not an admin
    assert "not an admin" in capsys.readouterr().err
    monkeypatch.setenv("HITL_TOKEN", tokens.create(runner.db, "ada", actor="test")["token"])
    assert main(["notifications", "--json", "--status", "dead"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(n["id"], n["review_id"], n["status"]) for n in listed] == [(row["id"], review_id, "dead")]

    assert main(["notifications", "retry", row["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "pending"
    assert main(["notifications", "retry", row["id"]]) == 2  # only a dead letter is retried
    assert "not dead" in capsys.readouterr().err
    assert main(["notifications", "deliver", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sent"] == 1
    assert [r.status for r in receiver.requests] == [500, 500, 500, 200]
    assert receiver.requests[-1].document["review_id"] == review_id
    assert main(["notifications"]) == 0 and review_id in capsys.readouterr().out


# -- transactions, masking, configuration ----------------------------------------------------------------------
def test_a_review_created_in_a_transaction_that_rolls_back_leaves_no_notification(runner):
    review_id = pending_review(refund_request(runner, 29))
    shown = reviews.shown_payload(runner.db, review_id)
    assert shown is not None
    ghost = {**shown, "review_id": "rv-ghost-" + unique("g")}

    class Boom(Exception):
        pass

    with pytest.raises(Boom), runner.db.transaction() as tx:
        assert reviews.register(
            tx, interrupt_id="i-ghost", value=ghost, agent="support", thread_id=unique("th"), requester="eve"
        )
        assert tx.scalar("SELECT COUNT(*) FROM notifications WHERE review_id = :i", {"i": ghost["review_id"]}) == 1
        raise Boom
    assert rows(runner, ghost["review_id"]) == []
    assert runner.db.read("SELECT id FROM reviews WHERE id = :i", {"i": ghost["review_id"]}) == []
    with runner.db.transaction() as tx:  # the same, committed: one row
        reviews.register(
            tx, interrupt_id="i-ghost", value=ghost, agent="support", thread_id=unique("th"), requester="eve"
        )
    assert [r["event"] for r in rows(runner, ghost["review_id"])] == ["review_requested"]


def test_card_numbers_and_secrets_never_reach_a_channel(runner, settings, receiver, mailbox):
    chosen = configured(
        settings, "support_agent=" + receiver.url("/agents"), "support_lead=" + mailbox.url("leads@example.com")
    )
    card, secret = "4111 1111 1111 1111", "password: Hunter2-Secret-99"
    order = "o-" + str(uuid.uuid4().int % 900000 + 100000)
    result = runner.run(
        "support",
        f"My kettle arrived broken, refund the $45 to card {card} ({secret}) for order {order}.",
        user="eve",
        thread_id=unique("th"),
        context={
            "customer": {"id": unique("c"), "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
            "order": {"id": order, "amount": 45, "currency": "USD", "days_since_delivery": 3},
        },
    )
    review_id = pending_review(result)
    # Built by hand too: a payload written with a card number in its target is masked before it is stored.
    with runner.db.transaction() as tx:
        outbox.enqueue(
            tx,
            event="review_requested",
            review_id="rv-card-" + unique("c"),
            thread_id=result.thread_id,
            agent="support",
            recipients=["role:support_agent"],
            payload={"action": "refund", "target": {"card": card}, "reasons": [f"note {secret}"], "amount": 1},
        )
    report = deliver(runner, chosen)
    assert report["sent"] == 2 and wait_for(lambda: len(mailbox.messages) == 1)
    seen = b"".join(r.body for r in receiver.requests).decode()
    seen += "".join(text_of(m) + str(m["Subject"]) for _, m in mailbox.messages)
    stored = json.dumps(notifications.listing(runner, limit=1000))
    for text in (seen, stored):
        assert "4111" not in text.replace("[CARD", "") and "1111 1111" not in text
        assert "Hunter2" not in text
    assert review_id in seen


def test_bad_configuration_is_one_line(runner, settings, monkeypatch, capsys):
    from guardrails.policy import parse_policy
    from hitl_cli.main import main
    from hitl_core.settings import Settings

    for value, expected in (
        ("support_lead=notaurl", "is not an apprise URL"),
        ("json://127.0.0.1:9/x support_lead=slack:/T000/B000/XXXXSECRET", "entry 2"),
    ):
        with pytest.raises(BadInput) as caught:
            Settings(notify_urls=value)
        message = str(caught.value)
        assert expected in message and "\n" not in message and "XXXXSECRET" not in message

    for urls, secret, expected in (
        (("nobody_role=json://127.0.0.1:9/x",), SECRET, "unknown role 'nobody_role'"),
        (("support_lead=nosuchscheme://somewhere",), SECRET, "not a URL apprise supports"),
        (("support_lead=json://127.0.0.1:9/x",), None, "HITL_WEBHOOK_SECRET is not set"),
    ):
        bad = settings.model_copy(update={"notify_urls": urls, "webhook_secret": secret})
        with pytest.raises(BadInput, match=expected) as caught:
            deliver(runner, bad)
        assert "\n" not in str(caught.value)

    from hitl_runtime.agents import policy_file

    text = policy_file("support").read_text()  # the shipped file, plus a bad notify section
    with pytest.raises(BadInput, match=r"notify\.nobody: unknown role") as caught:
        parse_policy(text + "\nnotify:\n  nobody: json://127.0.0.1:9/x\n", "support.yaml")
    assert "\n" not in str(caught.value)

    monkeypatch.setenv("HITL_TOKEN", tokens.create(runner.db, "ada", actor="test")["token"])
    monkeypatch.setenv("HITL_NOTIFY_URLS", "support_lead=notaurl")
    assert main(["notifications", "deliver"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hitl: HITL_NOTIFY_URLS: entry 1") and "\n" not in err
    monkeypatch.setenv("HITL_NOTIFY_URLS", "ghost_role=json://127.0.0.1:9/x")
    monkeypatch.setenv("HITL_WEBHOOK_SECRET", SECRET)
    assert main(["notifications", "deliver"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown role 'ghost_role'" in err and "\n" not in err


def test_the_local_receiver_checks_signatures_and_prints_each_message(runner, settings, tmp_path):
    """`hitl notifications receive`: what the worker sends arrives verified; a forged request is refused (401)."""
    port = free_port()
    env = {**os.environ, "HITL_DATABASE_URL": settings.database_url, "HITL_WEBHOOK_SECRET": SECRET}
    out = (tmp_path / "received.jsonl").open("w+")
    listening = subprocess.Popen(
        [sys.executable, "-m", "hitl_cli.main", "notifications", "receive", "--port", str(port), "--json"],
        env=env,
        stdout=out,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "receiving webhooks" in listening.stderr.readline()
        review_id = pending_review(refund_request(runner, 47))
        worker = subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", "worker", "--once", "--json"],
            env={**env, "HITL_NOTIFY_URLS": f"support_agent=json://127.0.0.1:{port}/hitl"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stderr
        forged = urllib.request.Request(
            f"http://127.0.0.1:{port}/hitl",
            data=b'{"event": "review_requested"}',
            headers={"X-Hitl-Timestamp": str(int(time.time())), "X-Hitl-Signature": "sha256=" + "0" * 64},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        assert refused.value.code == 401
        received = tmp_path / "received.jsonl"
        assert wait_for(lambda: len(received.read_text().splitlines()) >= 2, seconds=30)
        seen = [json.loads(line) for line in received.read_text().splitlines()]
        (real,) = [s for s in seen if s["verified"]]
        assert real["status"] == 200 and real["idempotency_key"] == f"hitl:review_requested:{review_id}"
        assert review_id in real["summary"] and "support_agent" in real["summary"]
        assert [s["status"] for s in seen if not s["verified"]] == [401]
    finally:
        listening.terminate()
        listening.wait(timeout=10)
        out.close()


def test_the_local_receiver_refuses_a_busy_port_in_one_line(settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", "notifications", "receive", "--port", str(port)],
            env={**os.environ, "HITL_DATABASE_URL": settings.database_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line
