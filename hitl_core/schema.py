"""The project's own tables, versioned; `upgrade()` creates or migrates them idempotently.

Several processes may start at once against a fresh database, so the whole upgrade (ours and the
checkpointer's) runs under one lock: an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hitl_core.db import Database, Tx

_PG_UPGRADE_LOCK = 0x4849544C  # "HITL"

# Timestamps are ISO-8601 UTC strings with a fixed width, so they sort the same in both dialects.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY,
            roles TEXT NOT NULL,
            password_hash TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS threads (
            thread_id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            requester TEXT NOT NULL,
            status TEXT NOT NULL,
            route TEXT,
            last_request TEXT,
            reply TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS threads_requester ON threads (requester, updated_at)",
        """CREATE TABLE IF NOT EXISTS reviews (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            interrupt_id TEXT NOT NULL,
            agent TEXT NOT NULL,
            requester TEXT NOT NULL,
            action TEXT,
            args TEXT,
            amount DOUBLE PRECISION,
            route TEXT,
            risk DOUBLE PRECISION,
            confidence DOUBLE PRECISION,
            reasons TEXT NOT NULL,
            required_roles TEXT NOT NULL,
            tier INTEGER NOT NULL,
            tier_name TEXT,
            approvals_required INTEGER NOT NULL,
            deadline TEXT,
            payload TEXT NOT NULL,
            payload_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            decision TEXT,
            applied_at TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (thread_id, interrupt_id)
        )""",
        "CREATE INDEX IF NOT EXISTS reviews_inbox ON reviews (status, kind, deadline)",
        "CREATE INDEX IF NOT EXISTS reviews_agent ON reviews (agent, status, deadline)",
        "CREATE INDEX IF NOT EXISTS reviews_thread ON reviews (thread_id, created_at)",
        "CREATE INDEX IF NOT EXISTS reviews_unapplied ON reviews (applied_at, status)",
        """CREATE TABLE IF NOT EXISTS review_roles (
            role TEXT NOT NULL,
            review_id TEXT NOT NULL,
            PRIMARY KEY (role, review_id)
        )""",
        """CREATE TABLE IF NOT EXISTS review_approvals (
            review_id TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (review_id, reviewer)
        )""",
        """CREATE TABLE IF NOT EXISTS audit_events (
            id TEXT PRIMARY KEY,
            stream TEXT NOT NULL,
            stream_seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            thread_id TEXT,
            review_id TEXT,
            action_id TEXT,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            payload_hash TEXT,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            UNIQUE (stream, stream_seq)
        )""",
        "CREATE INDEX IF NOT EXISTS audit_thread ON audit_events (thread_id, at)",
        "CREATE INDEX IF NOT EXISTS audit_actor ON audit_events (actor, at)",
        "CREATE INDEX IF NOT EXISTS audit_at ON audit_events (at)",
        """CREATE TABLE IF NOT EXISTS audit_heads (
            stream TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS action_ledger (
            id TEXT PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            thread_id TEXT NOT NULL,
            review_id TEXT,
            agent TEXT NOT NULL,
            action TEXT NOT NULL,
            args TEXT NOT NULL,
            status TEXT NOT NULL,
            reversible INTEGER NOT NULL,
            effect TEXT NOT NULL,
            undo TEXT,
            executed_by TEXT NOT NULL,
            executed_at TEXT NOT NULL,
            rolled_back_by TEXT,
            rolled_back_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS ledger_thread ON action_ledger (thread_id, executed_at)",
        """CREATE TABLE IF NOT EXISTS feedback (
            id TEXT PRIMARY KEY,
            review_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            agent TEXT NOT NULL,
            action TEXT,
            kind TEXT NOT NULL,
            category TEXT,
            diff TEXT NOT NULL,
            comment TEXT,
            reviewer TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS feedback_agent ON feedback (agent, at)",
        """CREATE TABLE IF NOT EXISTS sessions (
            token_hash TEXT PRIMARY KEY,
            user_name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_name)",
        """CREATE TABLE IF NOT EXISTS incidents (
            id TEXT PRIMARY KEY,
            action_id TEXT NOT NULL,
            reported_by TEXT NOT NULL,
            description TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS incidents_action ON incidents (action_id)",
        """CREATE TABLE IF NOT EXISTS thread_leases (
            thread_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            token INTEGER NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
        # Lessons derived from reviewers' feedback: a queue; only accepted, evaluated ones reach memory.
        """CREATE TABLE IF NOT EXISTS lessons (
            id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            status TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            rule TEXT,
            action TEXT,
            category TEXT,
            feedback_ids TEXT NOT NULL,
            proposed_by TEXT NOT NULL,
            proposed_at TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            comment TEXT,
            evaluation TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS lessons_queue ON lessons (status, agent, proposed_at)",
        # Abuse signals: a requester's recent refund requests, and feedback by time window.
        "CREATE INDEX IF NOT EXISTS reviews_requester ON reviews (requester, action, created_at)",
        "CREATE INDEX IF NOT EXISTS feedback_at ON feedback (at)",
    ],
    [
        # Read from indexes alone: the inbox's counts per agent (no heap scan of the review payloads) and
        # the historical approval rate every assessment reads (not a scan of all of an agent's reviews).
        "CREATE INDEX IF NOT EXISTS reviews_counts ON reviews (status, kind, agent, id)",
        "CREATE INDEX IF NOT EXISTS reviews_history ON reviews (agent, action, kind, status)",
    ],
    [
        # Version 3: an approval binds to the exact arguments it approved (their hash), and API tokens
        # (stored as hashes) let each approver prove who they are from a command line or a client.
        "ALTER TABLE review_approvals ADD COLUMN args_hash TEXT",
        """CREATE TABLE IF NOT EXISTS api_tokens (
            id TEXT PRIMARY KEY,
            user_name TEXT NOT NULL,
            label TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens (user_name)",
    ],
    [
        # A keyed audit trail (hitl_core/audit.py). Per event, its chain's scheme: NULL for the unkeyed
        # SHA-256 chain written before this version, 'hmac-sha256' and the key's fingerprint after it.
        "ALTER TABLE audit_events ADD COLUMN scheme TEXT",
        "ALTER TABLE audit_events ADD COLUMN key_id TEXT",
        "ALTER TABLE audit_heads ADD COLUMN key_id TEXT",
        # The registry: a keyed chain with one entry per chain, written when the chain's first keyed event is.
        """CREATE TABLE IF NOT EXISTS audit_registry (
            seq INTEGER PRIMARY KEY,
            stream TEXT NOT NULL UNIQUE,
            keyed_from INTEGER NOT NULL,
            first_hash TEXT NOT NULL,
            at TEXT NOT NULL,
            key_id TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        # Signed checkpoints, chained; audit_anchors holds each chain's position as of the newest checkpoint
        # that recorded it (that checkpoint's digest covers the whole table).
        """CREATE TABLE IF NOT EXISTS audit_checkpoints (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            registry_seq INTEGER NOT NULL,
            registry_hash TEXT NOT NULL,
            streams INTEGER NOT NULL,
            events INTEGER NOT NULL,
            digest TEXT NOT NULL,
            key_id TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS audit_anchors (
            stream TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL,
            checkpoint INTEGER NOT NULL
        )""",
        # Heads of the registry and checkpoint chains; locking a head row orders that chain's appends.
        """CREATE TABLE IF NOT EXISTS audit_chain_heads (
            name TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL,
            key_id TEXT
        )""",
        f"""INSERT INTO audit_chain_heads (name, seq, hash)
            VALUES ('registry', 0, '{"0" * 64}'), ('checkpoints', 0, '{"0" * 64}') ON CONFLICT DO NOTHING""",
    ],
    [
        # Version 5: erasure and retention. New audit events are chained over keyed digests of their actor
        # and data (scheme 'hmac-sha256+digests'), so personal data can be redacted from an event while its
        # chain verifies; `redacted_by` names the audited erasure that did it. Older events keep their scheme.
        "ALTER TABLE audit_events ADD COLUMN actor_digest TEXT",
        "ALTER TABLE audit_events ADD COLUMN data_digest TEXT",
        "ALTER TABLE audit_events ADD COLUMN redacted_by TEXT",
        # A thread whose checkpoints were deleted (retention or erasure): when, and why.
        "ALTER TABLE threads ADD COLUMN purged_at TEXT",
        "ALTER TABLE threads ADD COLUMN purged_by TEXT",
        "CREATE INDEX IF NOT EXISTS threads_retention ON threads (purged_at, status, updated_at)",
    ],
    [
        # Version 6: login attempts throttled per account and per client (hitl_core/login_guard.py), and
        # sessions that end after a period without activity as well as at their absolute expiry.
        """CREATE TABLE IF NOT EXISTS login_throttle (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            attempts TEXT NOT NULL,
            locked_until TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (scope, subject)
        )""",
        "CREATE INDEX IF NOT EXISTS login_throttle_updated ON login_throttle (updated_at)",
        "ALTER TABLE sessions ADD COLUMN last_seen_at TEXT",
        "ALTER TABLE sessions ADD COLUMN idle_seconds INTEGER",
    ],
    [
        # Version 7: queued work (hitl_core/jobs.py): a run, a reply or a decision recorded by a request and carried
        # out by a worker. One row per job, whichever backend delivers it: its status and result are read
        # here on both (procrastinate's own table only schedules it on PostgreSQL).
        """CREATE TABLE IF NOT EXISTS hitl_jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            review_id TEXT,
            requested_by TEXT,
            backend TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT,
            run_after TEXT NOT NULL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            heartbeat_at TEXT,
            finished_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS hitl_jobs_due ON hitl_jobs (backend, status, run_after)",
        "CREATE INDEX IF NOT EXISTS hitl_jobs_thread ON hitl_jobs (thread_id, status)",
    ],
    [
        # Version 8: the notifications outbox (hitl_core/outbox.py). A row is written in the transaction of
        # the review change that causes it; `hitl_runtime/notifications.py` delivers it (at least once, by
        # its idempotency key), retries with backoff and dead-letters it after the last attempt.
        # `recipient` holds the channel keys (`role:NAME`, `requester:NAME`), resolved to URLs only when
        # sending (no URL or secret is stored); `delivered` the fingerprints of the URLs that took it.
        """CREATE TABLE IF NOT EXISTS notifications (
            id TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            review_id TEXT,
            thread_id TEXT,
            agent TEXT,
            recipient TEXT NOT NULL,
            payload TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            status TEXT NOT NULL,
            last_error TEXT,
            delivered TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS notifications_due ON notifications (status, next_attempt_at)",
        "CREATE INDEX IF NOT EXISTS notifications_thread ON notifications (thread_id)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(tx: Tx) -> int:
    """The core schema version recorded in the database (0 when empty)."""
    tx.execute("CREATE TABLE IF NOT EXISTS hitl_schema (version INTEGER NOT NULL)")
    version = tx.scalar("SELECT MAX(version) AS v FROM hitl_schema")
    return int(version or 0)


def agent_version(tx: Tx, agent: str) -> int:
    """How many of an agent's own migrations the database holds (0 when none)."""
    tx.execute("CREATE TABLE IF NOT EXISTS hitl_agent_schema (agent TEXT NOT NULL, version INTEGER NOT NULL)")
    version = tx.scalar("SELECT MAX(version) AS v FROM hitl_agent_schema WHERE agent = :a", {"a": agent})
    return int(version or 0)


def _up_to_date(tx: Tx, agents: Mapping[str, Sequence[Sequence[str]]]) -> bool:
    return current_version(tx) == SCHEMA_VERSION and all(
        agent_version(tx, name) == len(steps) for name, steps in agents.items()
    )


def upgrade(
    db: Database, checkpointer: Any | None = None, agents: Mapping[str, Sequence[Sequence[str]]] | None = None
) -> int:
    """Bring the core tables to SCHEMA_VERSION, then each agent's own tables to its latest migration.

    `agents` maps an agent's name to its migrations (lists of statements), so the core creates the
    tables of whichever agents a deployment runs without knowing any of them. Safe to call from many
    processes at once.
    """
    agents = agents or {}
    with db.transaction(write=False) as tx:
        if _up_to_date(tx, agents):
            return SCHEMA_VERSION
    with db.transaction() as tx:
        if tx.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(:k)", {"k": _PG_UPGRADE_LOCK})
        version = current_version(tx)
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                tx.execute(statement)
            tx.execute("INSERT INTO hitl_schema (version) VALUES (:v)", {"v": number + 1})
        for name, steps in agents.items():
            for number in range(agent_version(tx, name), len(steps)):
                for statement in steps[number]:
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO hitl_agent_schema (agent, version) VALUES (:a, :v)", {"a": name, "v": number + 1}
                )
        if checkpointer is not None and tx.dialect == "postgresql":
            # PostgresSaver.setup() is not safe to race; it runs while we hold the lock.
            checkpointer.setup()
    if checkpointer is not None and db.dialect == "sqlite":
        checkpointer.setup()
    return SCHEMA_VERSION
