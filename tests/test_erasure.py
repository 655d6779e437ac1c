"""`hitl forget SUBJECT`: a person's data leaves every table and checkpoint; the audit still verifies.

On both backends, through the command line an operator uses (in process, with an admin's token).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hitl_cli.main import main
from hitl_core import audit, memory, tokens
from hitl_core.canonical import canonical_json, new_id, now_iso
from hitl_core.users import add_user
from tests.helpers import unique
from tests.privacy_dump import dump

EMAIL_DOMAIN = "example.org"


@pytest.fixture(autouse=True)
def _audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITL_AUDIT_KEY", "erasure-tests-audit-key-0123456789")


def _person(runner: Any) -> dict[str, str]:
    """An end user with a name and an email, and two finished threads of theirs (one reviewed)."""
    tag = unique("p").split("-")[1]
    person = {
        "user": f"ana.{tag}",
        "name": f"Ána Líma{tag}",  # written as JSON escapes too, in some stores
        "email": f"ana.{tag}@{EMAIL_DOMAIN}",
    }
    person["customer"] = f"c-{person['user']}"  # the customer record an end user maps to
    add_user(runner.db, person["user"], ["end_user"], actor="test")
    customer = {"id": person["customer"], "name": person["name"], "email": person["email"], "lifetime_value": 150}
    order = "o-" + str(int(tag, 16) % 900000 + 100000)
    refund = runner.run(
        "support",
        f"Hi, this is {person['name']} ({person['email']}). My kettle arrived broken. "
        f"Can I get my $21 back for order {order}?",
        user=person["user"],
        context={
            "customer": customer,
            "order": {"id": order, "amount": 21, "currency": "USD", "days_since_delivery": 3},
        },
        thread_id=unique("th"),
    )
    assert refund.reviews, refund
    runner.decide(refund.reviews[0], "reject", "sam", comment=f"{person['name']} asked twice already", category="other")
    asked = runner.run(
        "support",
        f"What are your support hours? Write to {person['email']} please.",
        user=person["user"],
        context={"customer": customer},
        thread_id=unique("th"),
    )
    person["threads"] = f"{refund.thread_id},{asked.thread_id}"
    memory.remember(runner.db, "support", {"id": unique("ls"), "text": f"{person['name']} prefers email"})
    return person


def _bystander(runner: Any) -> str:
    """Someone else's thread, which erasure must leave alone."""
    name = f"Bob Builder{unique('b').split('-')[1]}"
    context = {"customer": {"id": unique("c"), "name": name, "tier": "standard", "lifetime_value": 10}}
    runner.run("support", "What are your customer support hours?", user="eve", context=context, thread_id=unique("th"))
    return name


def _token(runner: Any, user: str) -> str:
    return str(tokens.create(runner.db, user, label="erasure test", actor="test")["token"])


def _forget(monkeypatch: pytest.MonkeyPatch, capsys: Any, *args: str, token: str | None) -> tuple[int, str, str]:
    if token is None:
        monkeypatch.delenv("HITL_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HITL_TOKEN", token)
    capsys.readouterr()
    code = main(["forget", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_forget_leaves_no_trace_and_the_audit_verifies(runner, monkeypatch, capsys):
    person = _person(runner)
    other = _bystander(runner)
    assert audit.checkpoint(runner.db).ok
    before = dump(runner.db)
    assert person["email"].lower() in before and person["name"].lower() in before  # the dump does see them

    code, out, err = _forget(monkeypatch, capsys, person["email"], "--json", token=_token(runner, "ada"))
    assert code == 0, err
    report = json.loads(out)
    assert sorted(report["threads"]) == sorted(person["threads"].split(","))

    after = dump(runner.db)
    for trace in (
        person["email"],
        person["name"],
        json.dumps(person["name"])[1:-1],
        person["user"],
        person["customer"],
    ):
        assert trace.lower() not in after, trace
    assert other.lower() in after  # someone else's data stays
    assert main(["audit", "verify"]) == 0, capsys.readouterr().err
    for thread_id in person["threads"].split(","):
        assert runner.checkpointer.get_tuple({"configurable": {"thread_id": thread_id}}) is None
    verified = audit.verify(runner.db)
    assert verified.ok, verified
    erasures = audit.search(runner.db, kind="subject_erased")
    assert len(erasures) == 1 and erasures[0]["actor"] == "ada"
    assert sorted(erasures[0]["data"]["threads"]) == sorted(person["threads"].split(","))
    assert audit.checkpoint(runner.db).ok and audit.verify(runner.db).ok


def test_forget_by_requester_name_erases_their_customer_record_too(runner, monkeypatch, capsys):
    person = _person(runner)
    code, _, err = _forget(monkeypatch, capsys, person["user"], token=_token(runner, "ada"))
    assert code == 0, err
    after = dump(runner.db)
    for trace in (person["email"], person["name"], person["user"], person["customer"]):
        assert trace.lower() not in after, [line[:200] for line in after.splitlines() if trace.lower() in line]
    assert audit.verify(runner.db).ok


@pytest.mark.parametrize(
    ("who", "subject", "code"),
    [
        (None, "email", 2),  # no credentials
        ("as-ada", "email", 2),  # a name without proof
        ("sam", "email", 2),  # not an admin
        ("ada", "nobody-known@example.org", 2),  # nothing to erase
        ("ada", "", 2),  # empty subject
        ("ada", "x" * 300, 2),  # too long
    ],
)
def test_refused_forget_is_one_line_and_changes_nothing(runner, monkeypatch, capsys, who, subject, code):
    person = _person(runner)
    token = _token(runner, who) if who and who != "as-ada" else None
    extra = ["--as", "ada"] if who == "as-ada" else []
    before = dump(runner.db)
    target = person["email"] if subject == "email" else subject
    got, out, err = _forget(monkeypatch, capsys, target, *extra, token=token)
    assert got == code, (got, out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("hitl: "), err
    after = dump(runner.db)
    assert after.count(person["email"].lower()) == before.count(person["email"].lower())
    assert person["name"].lower() in after


def test_forget_refuses_a_staff_account(runner, monkeypatch, capsys):
    before = audit.search(runner.db, kind="subject_erased")
    code, _, err = _forget(monkeypatch, capsys, "sam", token=_token(runner, "ada"))
    assert code == 2 and "staff" in err and len(err.strip().splitlines()) == 1
    assert audit.search(runner.db, kind="subject_erased") == before


def test_redaction_without_an_erasure_record_is_detected(runner):
    """A writer without the key cannot pass an edit off as an erasure."""
    person = _person(runner)
    thread_id = person["threads"].split(",")[0]
    victim = runner.db.read(
        "SELECT id, data FROM audit_events WHERE stream = :s AND kind = 'request_received'", {"s": thread_id}
    )[0]
    with runner.db.transaction() as tx:
        tx.execute("UPDATE audit_events SET data = '{}', redacted_by = 'ev-forged' WHERE id = :i", {"i": victim["id"]})
    result = audit.verify(runner.db)
    assert not result.ok and result.broken_event == victim["id"]
    with runner.db.transaction() as tx:  # the module's database is shared: put the event back
        tx.execute("UPDATE audit_events SET data = :data, redacted_by = NULL WHERE id = :id", victim)
    assert audit.verify(runner.db).ok


def _v4_chain(runner: Any, requester: str, email: str) -> str:
    """A thread whose events were written under schema version 4 (the MAC covers actor and data themselves)."""
    key = audit.load_key(runner.db)
    assert key is not None
    stream = unique("th")
    with runner.db.transaction() as tx:
        tx.execute(
            "INSERT INTO threads (thread_id, agent, requester, status, created_at, updated_at) "
            "VALUES (:t, 'support', :r, 'completed', :at, :at)",
            {"t": stream, "r": requester, "at": now_iso()},
        )
        prev = audit.GENESIS
        for seq in (1, 2):
            event = {
                "id": new_id("ev"),
                "stream": stream,
                "stream_seq": seq,
                "kind": "request_received",
                "thread_id": stream,
                "review_id": None,
                "action_id": None,
                "actor": requester,
                "at": now_iso(),
                "payload_hash": None,
                "data": canonical_json({"message": f"write to {email}", "seq": seq}),
                "scheme": audit.KEYED_V4_SCHEME,
                "key_id": key.id,
                "prev_hash": prev,
            }
            event["hash"] = prev = audit.event_hash(prev, event, key)
            tx.execute(
                f"INSERT INTO audit_events ({', '.join(event)}) VALUES ({', '.join(':' + c for c in event)})", event
            )
        tx.execute(
            "INSERT INTO audit_heads (stream, seq, hash, key_id) VALUES (:s, 2, :h, :k)",
            {"s": stream, "h": prev, "k": key.id},
        )
        audit._register(tx, key, stream, 1, _first_hash(tx, stream))
    return stream


def _first_hash(tx: Any, stream: str) -> str:
    return str(tx.one("SELECT hash FROM audit_events WHERE stream = :s AND stream_seq = 1", {"s": stream})["hash"])


def test_version_4_events_keep_verifying_and_are_redacted_by_an_erasure(runner, monkeypatch, capsys):
    person = _person(runner)
    stream = _v4_chain(runner, person["user"], person["email"])
    assert audit.verify(runner.db).ok
    code, out, err = _forget(monkeypatch, capsys, person["user"], "--json", token=_token(runner, "ada"))
    assert code == 0, err
    assert stream in json.loads(out)["threads"]
    rows = runner.db.read("SELECT actor, data, redacted_by FROM audit_events WHERE stream = :s", {"s": stream})
    assert all(r["redacted_by"] for r in rows)
    assert not any(person["email"] in r["data"] or person["user"] in r["actor"] for r in rows)
    assert audit.verify(runner.db).ok
    # A redacted version 4 event's other fields stay checked (the erasure recorded their MAC).
    with runner.db.transaction() as tx:
        tx.execute("UPDATE audit_events SET kind = 'approved' WHERE stream = :s AND stream_seq = 1", {"s": stream})
    result = audit.verify(runner.db)
    assert not result.ok and result.broken_stream == stream
    with runner.db.transaction() as tx:
        tx.execute("UPDATE audit_events SET kind = 'request_received' WHERE stream = :s", {"s": stream})
    assert audit.verify(runner.db).ok


def test_a_waiting_thread_is_withdrawn_and_the_sweep_leaves_it_alone(runner, monkeypatch, capsys):
    person = _person(runner)
    waiting = runner.run(
        "support",
        "Please refund my $30 for order o-777777, it never arrived.",
        user=person["user"],
        context={
            "customer": {"id": person["customer"], "name": person["name"], "email": person["email"]},
            "order": {"id": "o-777777", "amount": 30, "currency": "USD", "days_since_delivery": 3},
        },
        thread_id=unique("th"),
    )
    assert waiting.status == "pending_review"
    code, _, err = _forget(monkeypatch, capsys, person["email"], token=_token(runner, "ada"))
    assert code == 0, err
    review = runner.db.read("SELECT status, applied_at FROM reviews WHERE id = :i", {"i": waiting.reviews[0]})[0]
    assert review["status"] == "withdrawn" and review["applied_at"]
    assert runner.db.read("SELECT status FROM threads WHERE thread_id = :t", {"t": waiting.thread_id})[0] == {
        "status": "withdrawn"
    }
    swept = runner.sweep()
    assert not swept["errors"], swept["errors"]
    assert waiting.reviews[0] not in swept["resumed"]
    assert audit.verify(runner.db).ok


def test_an_admin_may_prove_who_they_are_with_a_password(runner, monkeypatch, capsys):
    import io

    add_user(runner.db, "root-admin", ["admin"], password="correct horse", actor="test")
    person = _person(runner)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    code, _, err = _forget(monkeypatch, capsys, person["email"], "--as", "root-admin", "--password-stdin", token=None)
    assert code == 0, err
    assert audit.search(runner.db, kind="subject_erased")[0]["actor"] == "root-admin"
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong horse\n"))
    other = _person(runner)
    code, _, err = _forget(monkeypatch, capsys, other["email"], "--as", "root-admin", "--password-stdin", token=None)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert other["email"].lower() in dump(runner.db)


def test_someone_who_asked_for_the_subject_keeps_their_account_and_other_threads(runner, monkeypatch, capsys):
    person = _person(runner)
    own = runner.run("support", "What are your customer support hours?", user="eve", thread_id=unique("th"))
    for_them = runner.run(
        "support",
        "What are your support hours? My friend asked.",
        user="eve",
        context={"customer": {"id": person["customer"], "name": person["name"], "email": person["email"]}},
        thread_id=unique("th"),
    )
    code, out, err = _forget(monkeypatch, capsys, person["email"], "--json", token=_token(runner, "ada"))
    assert code == 0, err
    erased = json.loads(out)["threads"]
    assert for_them.thread_id in erased and own.thread_id not in erased
    assert runner.db.read("SELECT name FROM users WHERE name = 'eve'")
    rows = runner.db.read(
        "SELECT thread_id, requester FROM threads WHERE thread_id IN (:a, :b)",
        {"a": own.thread_id, "b": for_them.thread_id},
    )
    requesters = {r["thread_id"]: r["requester"] for r in rows}
    assert requesters[own.thread_id] == "eve" and requesters[for_them.thread_id] != "eve"
    assert runner.checkpointer.get_tuple({"configurable": {"thread_id": own.thread_id}}) is not None
    assert audit.verify(runner.db).ok
