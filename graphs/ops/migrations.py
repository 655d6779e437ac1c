"""The ops agent's own tables, applied by the schema upgrade after the core's (in order, once each)."""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
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
    ],
]
