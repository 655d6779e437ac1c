"""Tampering by someone with write access to the database, on both backends.

The attacker may run any SQL but does not hold the audit key. Three rewrites that an unkeyed,
per-thread hash chain cannot see are detected: (a) a thread's events and head row deleted,
(b) a chain truncated and its head rewound, (c) an event rewritten and every later hash and the
head recomputed. What stays undetectable (changes after the newest checkpoint) is pinned too.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hitl_core import audit
from hitl_core.canonical import canonical_json, new_id, now_iso
from hitl_core.db import Database
from tests.helpers import question, refund_request, unique

# The unkeyed scheme's formula, as anyone reading the code can recompute it.
LEGACY_FIELDS = (
    "id",
    "stream",
    "stream_seq",
    "kind",
    "thread_id",
    "review_id",
    "action_id",
    "actor",
    "at",
    "payload_hash",
    "data",
)


def legacy_hash(prev_hash: str, row: dict[str, Any]) -> str:
    fields = {k: row[k] for k in LEGACY_FIELDS}
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode()).hexdigest()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit-key") / "audit.key"


@pytest.fixture(autouse=True)
def _audit_key(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One key file for this module's databases, outside the repository."""
    monkeypatch.delenv("HITL_AUDIT_KEY", raising=False)
    monkeypatch.setenv("HITL_AUDIT_KEY_FILE", str(key_file))


def _thread(runner: Any) -> str:
    """A real thread with several events: a refund request, approved."""
    result = refund_request(runner, 21)
    runner.decide(result.reviews[0], "approve", "sam")
    return str(result.thread_id)


def _rows(db: Database, stream: str) -> list[dict[str, Any]]:
    return db.read("SELECT * FROM audit_events WHERE stream = :s ORDER BY stream_seq", {"s": stream})


AUDIT_TABLES = (
    "audit_events",
    "audit_heads",
    "audit_registry",
    "audit_chain_heads",
    "audit_anchors",
    "audit_checkpoints",
)


@contextmanager
def tampering(db: Database) -> Iterator[None]:
    """Tamper inside the block; afterwards the audit tables are put back as they were (the module shares one database)."""
    with db.transaction(write=False) as tx:
        saved = {table: tx.execute(f"SELECT * FROM {table}") for table in AUDIT_TABLES}
    try:
        yield
    finally:
        with db.transaction() as tx:
            for table, rows in saved.items():
                tx.execute(f"DELETE FROM {table}")
                for row in rows:
                    columns = ", ".join(row)
                    values = ", ".join(f":{c}" for c in row)
                    tx.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})", row)
    restored = audit.verify(db)
    assert restored.ok, restored


def _broken(result: audit.VerifyResult, stream: str) -> None:
    assert not result.ok, result
    assert result.broken_stream == stream, result
    assert result.reason


def _rewrite(tx: Any, row: dict[str, Any]) -> None:
    """Store an event's actor, data, link, hash and (where the columns exist) its claimed scheme."""
    columns = ["actor", "data", "prev_hash", "hash"] + [c for c in ("scheme", "key_id") if c in row]
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    tx.execute(f"UPDATE audit_events SET {assignments} WHERE id = :id", row)


def _rewind_head(tx: Any, stream: str, seq: int, hash_: str) -> None:
    tx.execute("UPDATE audit_heads SET seq = :q, hash = :h WHERE stream = :s", {"q": seq, "h": hash_, "s": stream})


# -- control --------------------------------------------------------------------------------------
def test_untampered_database_verifies(runner):
    threads = [_thread(runner), question(runner).thread_id]
    before = audit.verify(runner.db)
    assert before.ok, before
    made = audit.checkpoint(runner.db)
    assert made.ok and made.seq >= 1 and made.streams >= len(threads)
    question(runner)  # more activity after the checkpoint
    after = audit.verify(runner.db)
    assert after.ok, after
    assert after.events > before.events and after.checkpoint == made.seq
    assert set(after.as_dict()) >= {"ok", "events", "streams", "broken_event", "broken_stream", "reason"}
    for thread_id in threads:
        assert all(e["scheme"] == audit.KEYED_SCHEME for e in audit.thread_history(runner.db, thread_id))


# -- (a) a thread deleted -------------------------------------------------------------------------
def test_deleted_thread_is_detected(runner):
    victim = _thread(runner)
    question(runner)  # the victim is not the newest thread
    assert audit.verify(runner.db).ok
    with tampering(runner.db):
        with runner.db.transaction() as tx:
            tx.execute("DELETE FROM audit_events WHERE stream = :s", {"s": victim})
            tx.execute("DELETE FROM audit_heads WHERE stream = :s", {"s": victim})
        _broken(audit.verify(runner.db), victim)


def test_deleted_thread_and_its_registry_entry_are_detected_by_the_checkpoint(runner):
    victim = _thread(runner)  # the newest chain: its registry entry is the registry's tail
    assert audit.checkpoint(runner.db).ok
    with tampering(runner.db):
        with runner.db.transaction() as tx:
            tx.execute("DELETE FROM audit_events WHERE stream = :s", {"s": victim})
            tx.execute("DELETE FROM audit_heads WHERE stream = :s", {"s": victim})
            tx.execute("DELETE FROM audit_registry WHERE stream = :s", {"s": victim})
            last = tx.one("SELECT seq, hash FROM audit_registry ORDER BY seq DESC LIMIT 1")
            assert last is not None
            tx.execute(
                "UPDATE audit_chain_heads SET seq = :q, hash = :h WHERE name = 'registry'",
                {"q": last["seq"], "h": last["hash"]},
            )
        result = audit.verify(runner.db)
        assert not result.ok, result
        assert result.broken_stream in (victim, audit.REGISTRY)


# -- (b) a chain truncated and its head rewound -----------------------------------------------------
def test_truncated_chain_with_rewound_head_is_detected(runner):
    victim = _thread(runner)
    assert audit.checkpoint(runner.db).ok
    rows = _rows(runner.db, victim)
    assert len(rows) >= 4
    keep = rows[-3]
    with tampering(runner.db):
        with runner.db.transaction() as tx:
            tx.execute(
                "DELETE FROM audit_events WHERE stream = :s AND stream_seq > :q", {"s": victim, "q": keep["stream_seq"]}
            )
            _rewind_head(tx, victim, keep["stream_seq"], keep["hash"])
        result = audit.verify(runner.db)
        _broken(result, victim)
        assert "checkpoint" in (result.reason or "")


def test_checkpoint_refuses_to_anchor_a_truncated_chain(runner):
    victim = _thread(runner)
    first = audit.checkpoint(runner.db)
    assert first.ok
    rows = _rows(runner.db, victim)
    with tampering(runner.db):
        with runner.db.transaction() as tx:
            tx.execute("DELETE FROM audit_events WHERE id = :i", {"i": rows[-1]["id"]})
            _rewind_head(tx, victim, rows[-2]["stream_seq"], rows[-2]["hash"])
        refused = audit.checkpoint(runner.db)
        assert not refused.ok and refused.broken_stream == victim
        assert audit.verify(runner.db).checkpoint == first.seq  # nothing written
    with tampering(runner.db):  # rewinding what the checkpoint recorded does not get countersigned either
        with runner.db.transaction() as tx:
            tx.execute(
                "UPDATE audit_anchors SET seq = :q, hash = :h WHERE stream = :s",
                {"q": rows[0]["stream_seq"], "h": rows[0]["hash"], "s": victim},
            )
        refused = audit.checkpoint(runner.db)
        assert not refused.ok and refused.broken_stream == audit.CHECKPOINTS
        assert not audit.verify(runner.db).ok


# -- (c) an event rewritten and the rest of the chain recomputed ------------------------------------
@pytest.mark.parametrize("attacker", ["unkeyed", "guessed_key"])
def test_rewritten_event_with_recomputed_chain_is_detected(runner, attacker):
    victim = _thread(runner)
    assert audit.checkpoint(runner.db).ok
    question(runner)
    rows = _rows(runner.db, victim)
    target = rows[1]
    guess = audit.AuditKey.from_text("the attacker's best guess at the key") if attacker == "guessed_key" else None
    prev = target["prev_hash"]
    with tampering(runner.db):
        with runner.db.transaction() as tx:
            for row in rows[1:]:
                if row["id"] == target["id"]:
                    row["actor"] = "mallory"
                row["prev_hash"] = prev
                if guess is None:
                    row["hash"] = legacy_hash(prev, row)
                    if "scheme" in row:
                        row["scheme"] = row["key_id"] = None  # claim the unkeyed scheme
                else:
                    row["hash"] = audit.event_hash(prev, row, guess)
                _rewrite(tx, row)
                prev = row["hash"]
            _rewind_head(tx, victim, len(rows), prev)
        result = audit.verify(runner.db)
        _broken(result, victim)
        assert result.broken_event == target["id"]


def test_rewritten_event_is_detected_without_a_checkpoint(runner):
    victim = _thread(runner)
    rows = _rows(runner.db, victim)
    prev = rows[0]["prev_hash"]
    with tampering(runner.db):
        with runner.db.transaction() as tx:
            for row in rows:
                if row is rows[0]:
                    row["data"] = row["data"].replace("eve", "mallory")
                row["prev_hash"] = prev
                row["hash"] = legacy_hash(prev, row)
                if "scheme" in row:
                    row["scheme"] = row["key_id"] = None
                _rewrite(tx, row)
                prev = row["hash"]
            _rewind_head(tx, victim, len(rows), prev)
        _broken(audit.verify(runner.db), victim)


# -- the limit, stated ----------------------------------------------------------------------------
def test_truncation_after_the_newest_checkpoint_is_not_detectable(runner):
    victim = _thread(runner)
    assert audit.checkpoint(runner.db).ok
    anchored = len(_rows(runner.db, victim))
    with runner.db.transaction() as tx:
        audit.append(tx, "note", "test", {"after": "checkpoint"}, thread_id=victim)
    rows = _rows(runner.db, victim)
    assert len(rows) == anchored + 1
    with runner.db.transaction() as tx:  # drop the unanchored tail and rewind the head: undetectable
        tx.execute("DELETE FROM audit_events WHERE id = :i", {"i": rows[-1]["id"]})
        _rewind_head(tx, victim, rows[-2]["stream_seq"], rows[-2]["hash"])
    assert audit.verify(runner.db).ok


# -- keys -----------------------------------------------------------------------------------------
def test_verify_with_the_wrong_key_fails(runner, monkeypatch, capsys):
    from hitl_cli.main import main

    question(runner)
    assert audit.checkpoint(runner.db).ok
    assert audit.verify(runner.db).ok
    wrong = audit.verify(runner.db, key=audit.AuditKey.from_text("a different key of enough length"))
    assert not wrong.ok and "key" in (wrong.reason or "")
    capsys.readouterr()
    monkeypatch.setenv("HITL_AUDIT_KEY", "ab" * 32)
    assert main(["audit", "verify", "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False and "key" in printed["reason"]


def test_appending_with_another_key_is_refused(runner, monkeypatch):
    from hitl_core.errors import HitlError

    thread_id = question(runner).thread_id
    monkeypatch.setenv("HITL_AUDIT_KEY", "cd" * 32)
    with pytest.raises(HitlError, match="key"), runner.db.transaction() as tx:
        audit.append(tx, "note", "test", {}, thread_id=thread_id)
    monkeypatch.delenv("HITL_AUDIT_KEY")
    assert audit.verify(runner.db).ok


def test_cli_checkpoint_prints_one_json_document(runner, capsys):
    from hitl_cli.main import main

    question(runner)
    capsys.readouterr()
    assert main(["audit", "checkpoint", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["ok"] is True and made["seq"] >= 1 and len(made["hash"]) == 64
    assert main(["audit", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == made["seq"]


def test_key_file_is_created_beside_an_sqlite_database_with_mode_0600(tmp_path, monkeypatch):
    from hitl_core.settings import Settings
    from hitl_runtime.runner import Runner

    monkeypatch.delenv("HITL_AUDIT_KEY_FILE")
    url = f"sqlite:///{tmp_path}/own.db"
    monkeypatch.setenv("HITL_DATABASE_URL", url)
    own = Runner(Settings(database_url=url))
    try:
        question(own)
        key = tmp_path / "audit.key"
        assert key.exists()
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert audit.verify(own.db).ok
    finally:
        own.close()


# -- concurrency ----------------------------------------------------------------------------------
def test_chains_verify_after_concurrent_appends_on_different_threads(runner):
    streams = [unique("th-conc") for _ in range(6)]
    done = threading.Event()
    seen: list[audit.VerifyResult] = []

    def work(stream: str) -> None:
        for i in range(5):
            with runner.db.transaction() as tx:
                audit.append(tx, "note", "worker", {"i": i}, thread_id=stream)

    def watch() -> None:  # verifies read one snapshot: a run in progress never looks broken
        while not done.is_set():
            seen.append(audit.verify(runner.db))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            futures = [pool.submit(work, s) for s in streams]
            futures += [pool.submit(question, runner) for _ in range(2)]
            futures += [pool.submit(audit.checkpoint, runner.db) for _ in range(2)]
            for future in futures:
                future.result()
    finally:
        done.set()
        watcher.join()
    assert all(r.ok for r in seen), [r for r in seen if not r.ok]
    final = audit.verify(runner.db)
    assert final.ok, final
    for stream in streams:
        assert [e["data"]["i"] for e in audit.thread_history(runner.db, stream)] == list(range(5))
    registered = {r["stream"] for r in runner.db.read("SELECT stream FROM audit_registry")}
    assert set(streams) <= registered


# -- databases written before the keyed chain -------------------------------------------------------
@pytest.fixture
def legacy_db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh database at schema version 2 (the unkeyed chain) holding one legacy thread."""
    from hitl_core import schema

    if database_url.startswith("sqlite"):
        db = Database(f"sqlite:///{tmp_path}/legacy.db")
        name = None
    else:
        from tests.conftest import _drop_pg_database, _fresh_pg_database, pg_url

        name = _fresh_pg_database("hitl_legacy")
        db = Database(pg_url(name))
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE hitl_schema (version INTEGER NOT NULL)")
            for statement in schema.MIGRATIONS[0] + schema.MIGRATIONS[1]:
                tx.execute(statement)
            tx.execute("INSERT INTO hitl_schema (version) VALUES (2)")
            _legacy_stream(tx, "th-legacy", 3)
        yield db
    finally:
        db.close()
        if name:
            _drop_pg_database(name)


def _legacy_stream(tx: Any, stream: str, count: int) -> None:
    prev = "0" * 64
    for seq in range(1, count + 1):
        row = {
            "id": new_id("ev"),
            "stream": stream,
            "stream_seq": seq,
            "kind": "note",
            "thread_id": stream,
            "review_id": None,
            "action_id": None,
            "actor": "old",
            "at": now_iso(),
            "payload_hash": None,
            "data": canonical_json({"seq": seq}),
            "prev_hash": prev,
        }
        row["hash"] = legacy_hash(prev, row)
        tx.execute(
            """INSERT INTO audit_events (id, stream, stream_seq, kind, thread_id, review_id, action_id, actor, at,
                   payload_hash, data, prev_hash, hash)
               VALUES (:id, :stream, :stream_seq, :kind, :thread_id, :review_id, :action_id, :actor, :at,
                   :payload_hash, :data, :prev_hash, :hash)""",
            row,
        )
        prev = row["hash"]
    tx.execute("INSERT INTO audit_heads (stream, seq, hash) VALUES (:s, :q, :h)", {"s": stream, "q": count, "h": prev})


def test_legacy_events_keep_verifying_and_continue_keyed(legacy_db):
    from hitl_core import schema

    schema.upgrade(legacy_db)
    assert audit.verify(legacy_db).ok
    with legacy_db.transaction() as tx:
        audit.append(tx, "note", "new", {"seq": 4}, thread_id="th-legacy")
    rows = _rows(legacy_db, "th-legacy")
    assert [r["scheme"] for r in rows] == [None, None, None, audit.KEYED_SCHEME]
    registry = legacy_db.read("SELECT stream, keyed_from FROM audit_registry")
    assert registry == [{"stream": "th-legacy", "keyed_from": 4}]
    assert audit.verify(legacy_db).ok
    assert audit.checkpoint(legacy_db).ok
    assert audit.verify(legacy_db).ok
    # After a checkpoint, an unkeyed stream nobody anchored is a forgery.
    with legacy_db.transaction() as tx:
        _legacy_stream(tx, "th-forged", 2)
    _broken(audit.verify(legacy_db), "th-forged")
    with legacy_db.transaction() as tx:
        tx.execute("DELETE FROM audit_events WHERE stream = 'th-forged'")
        tx.execute("DELETE FROM audit_heads WHERE stream = 'th-forged'")
    assert audit.verify(legacy_db).ok
    # The keyed tail cannot be passed off as unkeyed.
    last = rows[-1]
    last["actor"] = "mallory"
    last["hash"] = legacy_hash(last["prev_hash"], last)
    with legacy_db.transaction() as tx:
        tx.execute(
            "UPDATE audit_events SET actor = 'mallory', hash = :hash, scheme = NULL, key_id = NULL WHERE id = :id", last
        )
        tx.execute("UPDATE audit_heads SET hash = :hash, key_id = NULL WHERE stream = 'th-legacy'", last)
    _broken(audit.verify(legacy_db), "th-legacy")
