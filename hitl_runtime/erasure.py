"""`hitl forget SUBJECT`: erase one person's data wherever the runtime keeps it, audited, the chain intact.

A subject is a person in an agent's business records (an id or an email, found through each agent's
`PEOPLE`: the support example's customers) or a requester (a user name). From it we find the
person's identifiers (record ids, names, emails, requester names) and their threads (requested by
them, or naming their record ids, emails, or what the agent says names them, such as orders). A
requester found through a thread counts as the person only when the record is their own (the
agent's `own_id`); anyone else who asked about them keeps their account and other threads. Then, with each thread's lease:
- the threads' checkpoints are deleted through the checkpointer's `delete_thread`;
- the threads' conversation, review payloads (the reviewer's context) and feedback comments are cleared,
  waiting reviews are withdrawn, and their notifications (sent or not) deleted;
- every identifier is replaced by a pseudonym (`erased-...`) in every other table: business records,
  feedback, lessons, long-term memory (the LangGraph store), the ledger;
- an end-user account of that name is removed with its sessions and tokens (a staff account is refused);
- audit events keep their rows and chains: their actor and data are redacted, which the chain allows
  because it covers keyed digests of them (`hitl_core/audit.py`), and one `subject_erased` event
  records who erased, which threads and which events (ids and hashes), never the personal data.
Checkpoints are deleted first, then everything else in one transaction: if that fails, running the
command again finishes the job (the person is still found).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Final

from hitl_core import audit, leases
from hitl_core.canonical import canonical_json, dumps, loads, new_id, now_iso
from hitl_core.db import Database, Tx
from hitl_core.errors import BadInput, Conflict, Forbidden, NotFound
from hitl_core.retention import clear_conversation
from hitl_core.users import ANONYMOUS
from hitl_runtime.agents import people_records

MAX_SUBJECT: Final = 254
FREE_TEXT: Final = ("message", "answer", "reply", "comment", "reason", "question", "request", "error")
"""Keys of audit data on the subject's threads that hold what people wrote: cleared whole."""
WAITING: Final = ("pending_review", "needs_info", "running")
SKIPPED_TABLES: Final = frozenset(
    {
        "hitl_schema",
        "users",
        "sessions",
        "api_tokens",
        "thread_leases",
        "checkpoints",
        "checkpoint_blobs",
        "checkpoint_writes",
        "checkpoint_migrations",
        "writes",
        "audit_events",
        "audit_heads",
        "audit_registry",
        "audit_checkpoints",
        "audit_anchors",
        "audit_chain_heads",
    }
)
SEARCH_INDEX: Final = "review_search"
"""SQLite's trigram index of the reviews' search text (schema version 10): derived from `reviews`, which
its triggers follow, so it is never scrubbed itself; it is rebuilt after an erasure instead, since an
FTS5 index keeps a deleted row's terms until its segments are merged."""
SEARCH_INDEX_TABLES: Final = frozenset(
    {SEARCH_INDEX, *(f"{SEARCH_INDEX}_{part}" for part in ("data", "idx", "content", "docsize", "config"))}
)
"""The index's virtual table and the shadow tables FTS5 keeps it in."""
"""Tables not scrubbed by pattern: accounts and checkpoints are deleted, audit events redacted, the rest holds no text."""


def validate_subject(subject: str) -> str:
    """The cleaned subject, or BadInput (empty, too long, not printable)."""
    cleaned = subject.strip() if isinstance(subject, str) else ""
    if not cleaned:
        raise BadInput("SUBJECT is empty: give a customer id or email, or a requester's user name")
    if len(cleaned) > MAX_SUBJECT or not cleaned.isprintable():
        raise BadInput(f"SUBJECT must be 1-{MAX_SUBJECT} printable characters")
    return cleaned


@dataclass
class Subject:
    """What identifies the person, and their threads."""

    requesters: set[str] = field(default_factory=set)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The person's records in the agents' business systems, by id (each with its name and email)."""
    threads: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    """End-user accounts of the person (removed with their sessions and tokens)."""

    def terms(self, subject: str) -> list[str]:
        """Every identifier to erase, longest first (so an email wins over the name inside it)."""
        found = {subject, *self.requesters}
        for row in self.records.values():
            found.update(str(v) for v in (row["id"], row["name"], row["email"]) if v)
        return sorted((t for t in found if len(t) >= 2), key=lambda t: (-len(t), t))


def find(db: Database, checkpointer: Any, subject: str) -> Subject:
    """The subject's identifiers and threads; NotFound when nothing is known, Forbidden for a staff account."""
    found = Subject()
    account = db.read("SELECT name, roles FROM users WHERE name = :n", {"n": subject})
    if account:
        roles = set(loads(account[0]["roles"], []))
        if roles - {"end_user"}:
            raise Forbidden(f"{subject} is a staff account ({', '.join(sorted(roles))}); erasure is for end users")
        found.accounts.add(subject)
        found.requesters.add(subject)
    if db.read("SELECT thread_id FROM threads WHERE requester = :r LIMIT 1", {"r": subject}):
        found.requesters.add(subject)
    hooks = people_records()
    for hook in hooks.values():
        _add(found, hook.find(db, subject))
        for requester in list(found.requesters):
            _add(found, hook.by_id(db, hook.own_id(requester)))
    found.threads |= _threads(db, found, hooks)
    for hook in hooks.values():
        for thread_id in sorted(found.threads):
            saved = checkpointer.get_tuple({"configurable": {"thread_id": thread_id}})
            values = saved.checkpoint.get("channel_values", {}) if saved else {}
            for record_id in sorted(hook.of_thread(db, thread_id, values if isinstance(values, dict) else {})):
                _add(found, hook.by_id(db, record_id))
    for requester in _requesters(db, found.threads) - found.requesters:
        if any(hook.own_id(requester) in found.records for hook in hooks.values()):  # their own record
            found.requesters.add(requester)
            if db.read("SELECT name FROM users WHERE name = :n", {"n": requester}):
                found.accounts.add(requester)
        # anyone else only asked about the person: their name goes from those threads, nothing more
    found.threads |= _threads(db, found, hooks)
    if not (found.requesters or found.records or found.threads):
        raise NotFound(f"no data is recorded about {subject!r} (a customer id or email, or a requester name)")
    return found


def _requesters(db: Database, threads: set[str]) -> set[str]:
    """Who asked on these threads, except the anonymous requester and staff accounts (asking for someone else)."""
    names: set[str] = set()
    for thread_id in sorted(threads):
        for row in db.read("SELECT requester FROM threads WHERE thread_id = :t", {"t": thread_id}):
            name = str(row["requester"])
            account = db.read("SELECT roles FROM users WHERE name = :n", {"n": name})
            if name != ANONYMOUS and not (account and set(loads(account[0]["roles"], [])) - {"end_user"}):
                names.add(name)
    return names


def _add(found: Subject, rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:
        found.records[str(row["id"])] = row


def _threads(db: Database, found: Subject, hooks: dict[str, Any]) -> set[str]:
    """Threads the person requested, or that name one of their record ids, emails or what names them."""
    threads = {
        str(r["thread_id"])
        for requester in found.requesters
        for r in db.read("SELECT thread_id FROM threads WHERE requester = :r", {"r": requester})
    }
    keys = [str(k) for row in found.records.values() for k in (row["id"], row["email"]) if k]
    for record_id in sorted(found.records):  # e.g. their orders and tickets, named in the threads' actions
        for hook in hooks.values():
            keys += hook.thread_keys(db, record_id)
    if keys:
        pattern = _pattern(keys)
        sources = (
            "SELECT thread_id, last_request AS text FROM threads",
            "SELECT thread_id, args AS text FROM reviews",
            "SELECT thread_id, args AS text FROM action_ledger",
            "SELECT thread_id, data AS text FROM audit_events WHERE thread_id IS NOT NULL",
        )
        for sql in (*sources, *(source for hook in hooks.values() for source in hook.THREAD_SOURCES)):
            for key in keys:
                tests = " OR ".join(f"text {_like_op(db.dialect)} :p{i} ESCAPE '!'" for i in range(len(_likes(key))))
                params = {f"p{i}": p for i, p in enumerate(_likes(key))}
                rows = db.read(f"SELECT * FROM ({sql}) found WHERE {tests}", params)
                threads |= {str(r["thread_id"]) for r in rows if pattern.search(str(r["text"]))}
    return threads


def _like_op(dialect: str) -> str:
    """Case-insensitive LIKE: ILIKE on PostgreSQL; SQLite's LIKE ignores case for ASCII letters only."""
    return "ILIKE" if dialect == "postgresql" else "LIKE"


def _likes(term: str) -> list[str]:
    """LIKE patterns finding the term; its case variants cover SQLite's ASCII-only case folding."""
    spellings = {term, term.lower(), term.upper(), term.title()}
    return sorted("%" + t.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%" for t in spellings)


def _variants(term: str) -> set[str]:
    """The term as written, and as JSON writes it inside a string (escaped, or ASCII-only)."""
    return {term, json.dumps(term)[1:-1], json.dumps(term, ensure_ascii=False)[1:-1]}


def _pattern(terms: Iterable[str]) -> re.Pattern[str]:
    spelled = sorted({v for t in terms for v in _variants(t)}, key=lambda t: (-len(t), t))
    alternatives = "|".join(re.escape(t) for t in spelled)
    return re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])", re.IGNORECASE)


class _Scrubber:
    """Replaces each identifier by its own pseudonym (distinct per erasure and term: unique keys stay unique)."""

    def __init__(self, terms: list[str], erasure: str) -> None:
        self.pattern = _pattern(terms)
        self.pseudonym = f"erased-{erasure[-8:]}"
        self.like = sorted({p for t in terms for v in _variants(t) for p in _likes(v)})
        self._names: dict[str, str] = {}
        for number, term in enumerate(terms, start=1):
            for variant in _variants(term):
                self._names.setdefault(variant.lower(), f"{self.pseudonym}-{number}")

    def __call__(self, text: str) -> str:
        return self.pattern.sub(lambda m: self._names.get(m.group(0).lower(), audit.REDACTED), text)


def forget(db: Database, checkpointer: Any, subject: str, *, actor: str, lease_seconds: float) -> dict[str, Any]:
    """Erase the subject (see the module's docstring); the report names counts and ids, never the data."""
    subject = validate_subject(subject)
    found = find(db, checkpointer, subject)
    erasure = new_id("er")
    scrub = _Scrubber(found.terms(subject), erasure)
    with ExitStack() as stack:
        held: dict[str, leases.Lease] = {}
        for thread_id in sorted(found.threads):
            lease = stack.enter_context(leases.try_lease(db, thread_id, lease_seconds))
            if lease is None:
                raise Conflict(f"thread {thread_id} is busy with another process; try again in a moment")
            held[thread_id] = lease
        for thread_id in sorted(found.threads):
            checkpointer.delete_thread(thread_id)
        with db.transaction() as tx:
            for thread_id, lease in held.items():
                leases.fence_in(tx, leases.Fence(thread_id, lease.token, lease_seconds))
            asked_by = {
                str(r["thread_id"]): str(r["requester"])
                for t in sorted(found.threads)
                for r in tx.execute("SELECT thread_id, requester FROM threads WHERE thread_id = :t", {"t": t})
            }
            _clear_threads(tx, sorted(found.threads), actor, scrub.pseudonym)
            for name in sorted(found.accounts):
                for table in ("sessions", "api_tokens"):
                    tx.execute(f"DELETE FROM {table} WHERE user_name = :n", {"n": name})
                tx.execute("DELETE FROM users WHERE name = :n", {"n": name})
            tables = {name: n for name in _tables(tx) if (n := _scrub_table(tx, name, scrub))}
            changes = _audit_changes(tx, asked_by, scrub)
            event_id = audit.append(
                tx,
                audit.ERASURE_KIND,
                actor,
                {
                    "erasure": erasure,
                    "threads": sorted(found.threads),
                    "checkpoints_deleted": len(found.threads),
                    "accounts_removed": len(found.accounts),
                    "tables": tables,
                    "events": audit.vouch(tx, [c["row"] for c in changes]),
                },
            )
            audit.redact(tx, event_id, changes)
            if tx.dialect == "sqlite":  # the index's old segments still hold the erased terms: merge them away
                tx.execute(f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}) VALUES ('optimize')")
    return {
        "erasure": erasure,
        "threads": sorted(found.threads),
        "accounts_removed": len(found.accounts),
        "tables": tables,
        "events": len(changes),
        "audit_event": event_id,
        "by": actor,
    }


def _clear_threads(tx: Tx, threads: list[str], actor: str, pseudonym: str) -> None:
    """The conversation goes; waiting threads and their reviews are withdrawn (nothing is left to resume)."""
    for thread_id in threads:
        clear_conversation(tx, thread_id, "erasure")
        for table in ("threads", "reviews"):  # whoever asked, on the person's threads
            tx.execute(f"UPDATE {table} SET requester = :p WHERE thread_id = :t", {"p": pseudonym, "t": thread_id})
        tx.execute(
            "UPDATE threads SET status = 'withdrawn' WHERE thread_id = :t AND status IN ('pending_review', 'needs_info', 'running')",
            {"t": thread_id},
        )
        tx.execute(
            "UPDATE reviews SET status = 'withdrawn', decided_by = :u, decided_at = :at WHERE thread_id = :t AND status = 'pending'",
            {"u": actor, "at": now_iso(), "t": thread_id},
        )
        tx.execute(  # the payload was the reviewer's context; nothing is left to resume the thread with
            "UPDATE reviews SET payload = :p, applied_at = COALESCE(applied_at, :at) WHERE thread_id = :t",
            {"p": dumps({"erased": True}), "at": now_iso(), "t": thread_id},
        )
        tx.execute("UPDATE feedback SET comment = NULL WHERE thread_id = :t", {"t": thread_id})
        tx.execute("DELETE FROM notifications WHERE thread_id = :t", {"t": thread_id})  # none goes out after


def _tables(tx: Tx) -> list[str]:
    if tx.dialect == "sqlite":
        rows = tx.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = tx.execute(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    return sorted(str(r["name"]) for r in rows if str(r["name"]) not in SKIPPED_TABLES | SEARCH_INDEX_TABLES)


def _text_columns(tx: Tx, table: str) -> dict[str, str]:
    """Columns that can hold text, with their type ('json'/'jsonb' are written back as such)."""
    if tx.dialect == "sqlite":
        rows = tx.execute(f'PRAGMA table_info("{table}")')
        return {str(r["name"]): "text" for r in rows if str(r["type"]).upper() in ("TEXT", "", "JSON", "VARCHAR")}
    rows = tx.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = :t",
        {"t": table},
    )
    kinds = {"text": "text", "character varying": "text", "json": "json", "jsonb": "jsonb"}
    return {str(r["column_name"]): kinds[r["data_type"]] for r in rows if r["data_type"] in kinds}


def _scrub_table(tx: Tx, table: str, scrub: _Scrubber) -> int:
    """Replace the identifiers in every text column of the table; the number of rows changed."""
    columns = _text_columns(tx, table)
    if not columns:
        return 0
    row_id = "rowid" if tx.dialect == "sqlite" else "ctid::text"
    params: dict[str, Any] = {}
    tests = []
    haystack = " || ' ' || ".join(f"COALESCE(CAST(\"{c}\" AS TEXT), '')" for c in columns)  # one test per pattern
    for i, like in enumerate(scrub.like):
        params[f"p{i}"] = like
        tests.append(f"({haystack}) {_like_op(tx.dialect)} :p{i} ESCAPE '!'")
    rows = tx.execute(f'SELECT {row_id} AS erasure_row, * FROM "{table}" WHERE {" OR ".join(tests)}', params)
    changed = 0
    for row in rows:
        updates: dict[str, Any] = {}
        for column in columns:
            value = row.get(column)
            if value is None:
                continue
            if isinstance(value, (bytes, memoryview)):  # JSON kept as a blob (LangGraph's SQLite store)
                text = bytes(value).decode("utf-8", "replace")
                if (cleaned := scrub(text)) != text:
                    updates[column] = cleaned.encode("utf-8")
                continue
            text = value if isinstance(value, str) else canonical_json(value)
            if (cleaned := scrub(text)) != text:
                updates[column] = cleaned
        if not updates:
            continue
        sets = ", ".join(
            f'"{c}" = CAST(:v_{i} AS {columns[c].upper()})' if columns[c] != "text" else f'"{c}" = :v_{i}'
            for i, c in enumerate(updates)
        )
        values = {f"v_{i}": v for i, v in enumerate(updates.values())}
        where = "rowid = :r" if tx.dialect == "sqlite" else "ctid = CAST(:r AS tid)"
        tx.execute(f'UPDATE "{table}" SET {sets} WHERE {where}', {**values, "r": row["erasure_row"]})
        changed += 1
    return changed


def _audit_changes(tx: Tx, threads: dict[str, str], scrub: _Scrubber) -> list[dict[str, Any]]:
    """Events to redact, each with its (unchanged) hash for the erasure event to vouch for.

    On the subject's threads (`threads`: id -> who asked) free text is cleared, identifiers and the
    requester's name replaced; elsewhere, identifiers replaced.
    """
    candidates: dict[str, dict[str, Any]] = {}
    for thread_id in sorted(threads):
        for row in tx.execute("SELECT * FROM audit_events WHERE stream = :s", {"s": thread_id}):
            candidates[row["id"]] = row
    params = {f"p{i}": like for i, like in enumerate(scrub.like)}
    tests = " OR ".join(
        f"data {_like_op(tx.dialect)} :p{i} ESCAPE '!' OR actor {_like_op(tx.dialect)} :p{i} ESCAPE '!'"
        for i in range(len(params))
    )
    for row in tx.execute(f"SELECT * FROM audit_events WHERE {tests}", params):
        candidates.setdefault(row["id"], row)
    changes = []
    for row in candidates.values():
        data = loads(row["data"], {})
        if row["stream"] in threads and isinstance(data, dict):
            data = {k: (audit.REDACTED if k in FREE_TEXT and v else v) for k, v in data.items()}
        new_data = scrub(canonical_json(data))
        new_actor = scrub(str(row["actor"]))
        if threads.get(row["stream"]) == row["actor"]:
            new_actor = scrub.pseudonym
        if new_data != row["data"] or new_actor != row["actor"]:
            changes.append({"id": row["id"], "row": row, "actor": new_actor, "data": new_data})
    return sorted(changes, key=lambda c: str(c["id"]))
