"""The support agent's own tables, applied by the schema upgrade after the core's (in order, once each)."""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
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
    ],
]
