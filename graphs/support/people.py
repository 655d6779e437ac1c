"""Where the support agent's business records name a person: what `hitl forget` asks each agent.

A person here is a customer record (`sim_customers`: id, name, email). An end user's own record is
`c-<user name>`; a thread is about a customer when its context names them or a reply to them waits
in the outbox; their orders and tickets name them in the actions taken on those threads.
"""

from __future__ import annotations

from typing import Any

from hitl_core.db import Database

THREAD_SOURCES = ("SELECT thread_id, customer_id AS text FROM sim_outbox",)
"""Where else a thread names a customer (searched like the threads' requests and actions)."""


def find(db: Database, subject: str) -> list[dict[str, Any]]:
    """Customer records whose id or email is the subject (case-insensitive)."""
    return db.read(
        "SELECT id, name, email FROM sim_customers WHERE LOWER(id) = :s OR LOWER(email) = :s", {"s": subject.lower()}
    )


def by_id(db: Database, record_id: str) -> list[dict[str, Any]]:
    """The customer record with this id (none or one)."""
    return db.read("SELECT id, name, email FROM sim_customers WHERE id = :c", {"c": record_id})


def own_id(requester: str) -> str:
    """The id of an end user's own customer record."""
    return f"c-{requester}"


def of_thread(db: Database, thread_id: str, values: dict[str, Any]) -> set[str]:
    """Customer ids a thread was about: its context (from the checkpoint's values) and its outbox."""
    ids: set[str] = set()
    context = values.get("context")
    customer = context.get("customer") if isinstance(context, dict) else None
    if isinstance(customer, dict) and customer.get("id"):
        ids.add(str(customer["id"]))
    rows = db.read("SELECT customer_id FROM sim_outbox WHERE thread_id = :t", {"t": thread_id})
    return ids | {str(r["customer_id"]) for r in rows if r["customer_id"]}


def thread_keys(db: Database, record_id: str) -> list[str]:
    """Ids that name the customer in threads' actions: their orders and tickets."""
    keys: list[str] = []
    for table in ("sim_orders", "sim_tickets"):
        keys += [str(r["id"]) for r in db.read(f"SELECT id FROM {table} WHERE customer_id = :c", {"c": record_id})]
    return keys
