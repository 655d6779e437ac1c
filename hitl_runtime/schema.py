"""The project's own tables, versioned; `upgrade()` creates or migrates them idempotently.

Several processes may start at once against a fresh database, so the whole upgrade (ours and the
checkpointer's) runs under one lock: an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite.
"""

from __future__ import annotations

from typing import Any

from hitl_runtime.db import Database, Tx

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
        # Simulated helpdesk and billing systems the support agent acts on.
        """CREATE TABLE IF NOT EXISTS sim_customers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            tier TEXT NOT NULL,
            lifetime_value DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL,
            email TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS sim_orders (
            id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            item TEXT,
            amount DOUBLE PRECISION NOT NULL,
            currency TEXT NOT NULL,
            days_since_delivery INTEGER,
            refunded DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS sim_tickets (
            id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            prior_contacts INTEGER NOT NULL,
            status TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS sim_refunds (
            id TEXT PRIMARY KEY,
            order_id TEXT,
            customer_id TEXT NOT NULL,
            amount DOUBLE PRECISION NOT NULL,
            currency TEXT NOT NULL,
            kind TEXT NOT NULL,
            reason TEXT,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS sim_refunds_customer ON sim_refunds (customer_id, created_at)",
        """CREATE TABLE IF NOT EXISTS sim_outbox (
            id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            customer_id TEXT,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        # Simulated fleet the ops agent acts on: services per environment and what changed them.
        """CREATE TABLE IF NOT EXISTS sim_ops_services (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            env TEXT NOT NULL,
            owner_team TEXT NOT NULL,
            tier INTEGER NOT NULL,
            version TEXT NOT NULL,
            previous_version TEXT,
            replicas INTEGER NOT NULL,
            max_replicas INTEGER NOT NULL,
            health TEXT NOT NULL,
            error_rate DOUBLE PRECISION NOT NULL,
            depends_on TEXT NOT NULL,
            restarts INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS sim_ops_services_env ON sim_ops_services (env, name)",
        """CREATE TABLE IF NOT EXISTS sim_ops_deploys (
            id TEXT PRIMARY KEY,
            service_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            from_version TEXT,
            to_version TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS sim_ops_deploys_service ON sim_ops_deploys (service_id, at)",
        """CREATE TABLE IF NOT EXISTS sim_ops_incidents (
            id TEXT PRIMARY KEY,
            service_id TEXT NOT NULL,
            severity TEXT NOT NULL,
            error_rate DOUBLE PRECISION,
            logs TEXT NOT NULL,
            status TEXT NOT NULL,
            opened_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS sim_ops_incidents_service ON sim_ops_incidents (service_id, opened_at)",
        """CREATE TABLE IF NOT EXISTS sim_ops_access_grants (
            id TEXT PRIMARY KEY,
            service_id TEXT NOT NULL,
            principal TEXT NOT NULL,
            level TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            thread_id TEXT,
            granted_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS sim_ops_access_service ON sim_ops_access_grants (service_id, principal, status)",
        """CREATE TABLE IF NOT EXISTS sim_ops_bridges (
            id TEXT PRIMARY KEY,
            incident_id TEXT NOT NULL,
            service_id TEXT,
            severity TEXT NOT NULL,
            summary TEXT NOT NULL,
            teams TEXT NOT NULL,
            status TEXT NOT NULL,
            thread_id TEXT,
            opened_at TEXT NOT NULL,
            closed_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS sim_ops_bridges_incident ON sim_ops_bridges (incident_id, status)",
        # Documents the compliance agent reviews, and the organisation's recorded answers on them.
        """CREATE TABLE IF NOT EXISTS sim_compliance_documents (
            id TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            jurisdiction TEXT,
            data_categories TEXT NOT NULL,
            customer_commitment INTEGER NOT NULL,
            loaded_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS findings (
            id TEXT PRIMARY KEY,
            subject_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            action TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            jurisdiction TEXT,
            summary TEXT NOT NULL,
            clauses TEXT NOT NULL,
            detail TEXT NOT NULL,
            status TEXT NOT NULL,
            supersedes TEXT,
            superseded_by TEXT,
            reviewer TEXT,
            approvers TEXT NOT NULL,
            review_id TEXT,
            recorded_at TEXT NOT NULL,
            withdrawn_at TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS findings_subject ON findings (subject_id, recorded_at)",
        "CREATE UNIQUE INDEX IF NOT EXISTS findings_current ON findings (subject_id) WHERE status = 'current'",
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
        # A keyed audit trail (hitl_runtime/audit.py). Per event, its chain's scheme: NULL for the unkeyed
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
        # Version 5: login attempts throttled per account and per client (hitl_runtime/login_guard.py), and
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
]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(tx: Tx) -> int:
    """The schema version recorded in the database (0 when empty)."""
    tx.execute("CREATE TABLE IF NOT EXISTS hitl_schema (version INTEGER NOT NULL)")
    version = tx.scalar("SELECT MAX(version) AS v FROM hitl_schema")
    return int(version or 0)


def upgrade(db: Database, checkpointer: Any | None = None) -> int:
    """Bring the database to SCHEMA_VERSION; safe to call from many processes at once."""
    with db.transaction(write=False) as tx:
        if current_version(tx) == SCHEMA_VERSION:
            return SCHEMA_VERSION
    with db.transaction() as tx:
        if tx.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(:k)", {"k": _PG_UPGRADE_LOCK})
        version = current_version(tx)
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                tx.execute(statement)
            tx.execute("INSERT INTO hitl_schema (version) VALUES (:v)", {"v": number + 1})
        if checkpointer is not None and tx.dialect == "postgresql":
            # PostgresSaver.setup() is not safe to race; it runs while we hold the lock.
            checkpointer.setup()
    if checkpointer is not None and db.dialect == "sqlite":
        checkpointer.setup()
    return SCHEMA_VERSION
