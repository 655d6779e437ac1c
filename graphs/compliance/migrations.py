"""The compliance agent's own tables, applied by the schema upgrade after the core's (in order, once each)."""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
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
    ],
]
