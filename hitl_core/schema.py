"""The project's own tables, versioned; `upgrade()` creates or migrates them idempotently.

Several processes may start at once against a fresh database, so the whole upgrade (ours and the
checkpointer's) runs under one lock: an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hitl_core.db import Database, Tx
from hitl_core.errors import HitlError

_PG_UPGRADE_LOCK = 0x4849544C  # "HITL"

# What a search matches, per row (the inbox's three terms in one text; see version 9). Each backend's
# own functions, exactly those the search used before: the same values, lower-cased the same way.
_SEARCH_TEXT_PG = (
    "LOWER({row}.id || chr(31) || COALESCE((SELECT string_agg(a.value, chr(31)) FROM json_each_text("
    "CASE WHEN json_typeof(CAST(COALESCE({row}.args, '{{}}') AS json)) = 'object' "
    "THEN CAST(COALESCE({row}.args, '{{}}') AS json) ELSE CAST('{{}}' AS json) END) a), '') || chr(31) || "
    "COALESCE(CAST({row}.payload AS json) ->> 'request', ''))"
)
_SEARCH_TEXT_SQLITE = (
    "LOWER({row}.id || char(31) || COALESCE((SELECT group_concat(CAST(a.value AS TEXT), char(31)) "
    "FROM json_each(COALESCE({row}.args, '{{}}')) a), '') || char(31) || "
    "COALESCE(json_extract({row}.payload, '$.request'), ''))"
)

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
    [
        # Version 9: the inbox at a million pending reviews (docs/DESIGN.md, "The inbox at scale").
        # `search_text`: the review id, the action's argument values and the request, lower-cased and
        # joined by U+001F (a search term holding that character is matched the old way), so that one
        # LIKE on one column finds what the three terms found; triggers keep it in step with `payload`
        # and `args` wherever they are written (registration, retention, erasure).
        # `review_counts`: how many reviews each (status, kind, agent, roles) has, kept by triggers in
        # the transaction of every insert, status change and delete, so the header counts read a few
        # rows instead of counting a million.
        "ALTER TABLE reviews ADD COLUMN search_text TEXT",
        """CREATE TABLE IF NOT EXISTS review_counts (
            status TEXT NOT NULL,
            kind TEXT NOT NULL,
            agent TEXT NOT NULL,
            roles TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (status, kind, agent, roles)
        )""",
        f"-- postgresql\nUPDATE reviews SET search_text = {_SEARCH_TEXT_PG.format(row='reviews')}",
        f"-- sqlite\nUPDATE reviews SET search_text = {_SEARCH_TEXT_SQLITE.format(row='reviews')}",
        """INSERT INTO review_counts (status, kind, agent, roles, n)
           SELECT status, kind, agent, required_roles, COUNT(*) FROM reviews GROUP BY status, kind, agent, required_roles""",
        f"""-- postgresql
        CREATE OR REPLACE FUNCTION hitl_review_search_text() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            NEW.search_text := {_SEARCH_TEXT_PG.format(row="NEW")};
            RETURN NEW;
        END $body$""",
        """-- postgresql
        CREATE TRIGGER reviews_search_text BEFORE INSERT OR UPDATE OF id, args, payload ON reviews
        FOR EACH ROW EXECUTE FUNCTION hitl_review_search_text()""",
        f"""-- sqlite
        CREATE TRIGGER IF NOT EXISTS reviews_search_text_ins AFTER INSERT ON reviews BEGIN
            UPDATE reviews SET search_text = {_SEARCH_TEXT_SQLITE.format(row="NEW")} WHERE id = NEW.id;
        END""",
        f"""-- sqlite
        CREATE TRIGGER IF NOT EXISTS reviews_search_text_upd AFTER UPDATE OF args, payload ON reviews BEGIN
            UPDATE reviews SET search_text = {_SEARCH_TEXT_SQLITE.format(row="NEW")} WHERE id = NEW.id;
        END""",
        # PostgreSQL: statement-level triggers over transition tables, so a bulk insert or update adds
        # its rows per group in one upsert (a row-level trigger would update one counter row per row).
        """-- postgresql
        CREATE OR REPLACE FUNCTION hitl_review_counts() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            IF TG_OP = 'UPDATE' THEN  -- each moved row leaves its old group and joins its new one
                INSERT INTO review_counts (status, kind, agent, roles, n)
                    SELECT status, kind, agent, roles, SUM(n) FROM (
                        SELECT o.status, o.kind, o.agent, o.required_roles AS roles, -1 AS n
                        FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status IS DISTINCT FROM w.status
                        UNION ALL
                        SELECT w.status, w.kind, w.agent, w.required_roles, 1
                        FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status IS DISTINCT FROM w.status
                    ) m GROUP BY 1, 2, 3, 4 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3, 4
                    ON CONFLICT (status, kind, agent, roles) DO UPDATE SET n = review_counts.n + excluded.n;
            ELSIF TG_OP = 'INSERT' THEN
                INSERT INTO review_counts (status, kind, agent, roles, n)
                    SELECT status, kind, agent, required_roles, COUNT(*) FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
                    ON CONFLICT (status, kind, agent, roles) DO UPDATE SET n = review_counts.n + excluded.n;
            ELSE
                INSERT INTO review_counts (status, kind, agent, roles, n)
                    SELECT status, kind, agent, required_roles, -COUNT(*) FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
                    ON CONFLICT (status, kind, agent, roles) DO UPDATE SET n = review_counts.n + excluded.n;
            END IF;
            RETURN NULL;
        END $body$""",
        """-- postgresql
        CREATE TRIGGER reviews_counts_ins AFTER INSERT ON reviews REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION hitl_review_counts()""",
        """-- postgresql
        CREATE TRIGGER reviews_counts_upd AFTER UPDATE ON reviews REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION hitl_review_counts()""",
        """-- postgresql
        CREATE TRIGGER reviews_counts_del AFTER DELETE ON reviews REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION hitl_review_counts()""",
        """-- sqlite
        CREATE TRIGGER IF NOT EXISTS reviews_counts_ins AFTER INSERT ON reviews BEGIN
            INSERT INTO review_counts (status, kind, agent, roles, n) VALUES (NEW.status, NEW.kind, NEW.agent, NEW.required_roles, 1)
            ON CONFLICT (status, kind, agent, roles) DO UPDATE SET n = n + 1;
        END""",
        """-- sqlite
        CREATE TRIGGER IF NOT EXISTS reviews_counts_upd AFTER UPDATE OF status ON reviews
        WHEN OLD.status IS NOT NEW.status BEGIN
            UPDATE review_counts SET n = n - 1
            WHERE status = OLD.status AND kind = OLD.kind AND agent = OLD.agent AND roles = OLD.required_roles;
            INSERT INTO review_counts (status, kind, agent, roles, n) VALUES (NEW.status, NEW.kind, NEW.agent, NEW.required_roles, 1)
            ON CONFLICT (status, kind, agent, roles) DO UPDATE SET n = n + 1;
        END""",
        """-- sqlite
        CREATE TRIGGER IF NOT EXISTS reviews_counts_del AFTER DELETE ON reviews BEGIN
            UPDATE review_counts SET n = n - 1
            WHERE status = OLD.status AND kind = OLD.kind AND agent = OLD.agent AND roles = OLD.required_roles;
        END""",
        # The first page: the role's reviews in deadline order, read in index order to the page's end.
        "CREATE INDEX IF NOT EXISTS reviews_deadline ON reviews (status, kind, deadline, created_at)",
        # The search: a trigram index answers LIKE '%text%' (rechecked on the row, so exact).
        "-- postgresql\nCREATE EXTENSION IF NOT EXISTS pg_trgm",
        # The operator class is named with the extension's own schema: it may be installed in another
        # schema than the tables' (created once per database, where a search path put it first).
        """-- postgresql
        DO $body$
        DECLARE home TEXT;
        BEGIN
            SELECT n.nspname INTO home FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'pg_trgm';
            EXECUTE format('CREATE INDEX IF NOT EXISTS reviews_search ON reviews USING gin (search_text %I.gin_trgm_ops)', home);
        END $body$""",
    ],
    [
        # Version 10: SQLite's search through a trigram index, as PostgreSQL's (docs/DESIGN.md, "The inbox
        # at scale"). An FTS5 table with the trigram tokenizer answers `LIKE '%text%'` from its index; it
        # keeps its own rows, found from a review's id through `review_search_rows` (not `reviews`' rowid,
        # which VACUUM may renumber), and triggers keep both in step with `search_text`. The index only
        # narrows: the stored text is matched again on each row, so a search finds what a scan found.
        "-- sqlite\nCREATE VIRTUAL TABLE IF NOT EXISTS review_search USING fts5(search_text, tokenize = 'trigram')",
        """-- sqlite
        CREATE TABLE IF NOT EXISTS review_search_rows (search_rowid INTEGER PRIMARY KEY, review_id TEXT NOT NULL UNIQUE)""",
        """-- sqlite
        INSERT INTO review_search (rowid, search_text) SELECT rowid, search_text FROM reviews WHERE search_text IS NOT NULL""",
        """-- sqlite
        INSERT INTO review_search_rows (search_rowid, review_id) SELECT rowid, id FROM reviews WHERE search_text IS NOT NULL""",
        """-- sqlite
        CREATE TRIGGER IF NOT EXISTS reviews_search_index_upd AFTER UPDATE OF search_text ON reviews BEGIN
            DELETE FROM review_search WHERE rowid = (SELECT search_rowid FROM review_search_rows WHERE review_id = OLD.id);
            DELETE FROM review_search_rows WHERE review_id = OLD.id;
            INSERT INTO review_search (search_text) SELECT NEW.search_text WHERE NEW.search_text IS NOT NULL;
            INSERT INTO review_search_rows (search_rowid, review_id)
                SELECT last_insert_rowid(), NEW.id WHERE NEW.search_text IS NOT NULL;
        END""",
        """-- sqlite
        CREATE TRIGGER IF NOT EXISTS reviews_search_index_del AFTER DELETE ON reviews BEGIN
            DELETE FROM review_search WHERE rowid = (SELECT search_rowid FROM review_search_rows WHERE review_id = OLD.id);
            DELETE FROM review_search_rows WHERE review_id = OLD.id;
        END""",
    ],
    [
        # Version 11: where a thread's checkpoints are: NULL for this runtime's checkpointer, `langgraph`
        # for a LangGraph Server (its turns recorded by `hitl_runtime/server.py`), which the runtime then
        # reads and resumes through `HITL_LANGGRAPH_URL`.
        "ALTER TABLE threads ADD COLUMN host TEXT",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


def _run(tx: Tx, statement: str) -> None:
    """One migration statement; one marked `-- postgresql` or `-- sqlite` runs on that backend only."""
    first, _, rest = statement.partition("\n")
    if first in ("-- postgresql", "-- sqlite"):
        if first != f"-- {tx.dialect}":
            return
        statement = rest
    if "CREATE EXTENSION" in statement:
        name = statement.split()[-1]
        tx.execute("SAVEPOINT hitl_extension")
        try:
            tx.execute(statement)
        except Exception as exc:  # any refusal (no such extension, no privilege): the same one line
            tx.execute("ROLLBACK TO SAVEPOINT hitl_extension")
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HitlError(
                f"the PostgreSQL extension {name} could not be created ({reason}); "
                f"ask a superuser to run CREATE EXTENSION {name} in this database"
            ) from None
        return
    tx.execute(statement)


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
                _run(tx, statement)
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
