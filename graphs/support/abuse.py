"""Abuse and fraud signals from history: refunds across linked accounts, refund requests across accounts.

Read-only queries over the helpdesk and billing records (`sim_customers`, `sim_orders`,
`sim_refunds`) and the review queue, for the support agent's validator:

- `prior_refunds`: refunds already issued to this customer;
- `linked_accounts`: other customer accounts that share this one's email address (normalised:
  case, `+tags` and dots in Gmail-style local parts do not make a new person);
- `linked_refunds`: refunds issued to those linked accounts in the last `WINDOW_DAYS`;
- `requester_refund_accounts`: how many different customer accounts the same requester asked to
  refund in the last `WINDOW_DAYS` (anonymous requesters are not counted).

The support policy turns them into checks (`possible_abuse`, `refunds_across_linked_accounts`,
`refund_requests_across_accounts`); each shows its numbers to the reviewer.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hitl_core.canonical import iso, utc_now
from hitl_core.db import Tx

WINDOW_DAYS = 90
_DOT_INSENSITIVE = ("gmail.com", "googlemail.com")


def normalize_email(email: str | None) -> str | None:
    """One mailbox, however it is written: lowercased, `+tag` dropped, Gmail dots ignored."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _DOT_INSENSITIVE:
        local = local.replace(".", "")
    return f"{local}@{domain}" if local else None


def linked_accounts(tx: Tx, customer_id: str) -> list[str]:
    """Other customer accounts with the same normalised email address."""
    me = tx.one("SELECT email FROM sim_customers WHERE id = :i", {"i": customer_id})
    mailbox = normalize_email(me["email"]) if me else None
    if not mailbox:
        return []
    domain = mailbox.rsplit("@", 1)[1]
    candidates = tx.execute(
        "SELECT id, email FROM sim_customers WHERE id <> :i AND LOWER(email) LIKE :d",
        {"i": customer_id, "d": f"%@{domain}"},
    )
    return sorted(c["id"] for c in candidates if normalize_email(c["email"]) == mailbox)


def refund_history(tx: Tx, customer_id: str, requester: str | None, *, now: Any = None) -> dict[str, Any]:
    """The abuse facts for a refund request by `requester` on `customer_id`'s account."""
    since = iso((now or utc_now()) - timedelta(days=WINDOW_DAYS))
    prior = int(
        tx.scalar(
            "SELECT COUNT(*) AS n FROM sim_refunds WHERE customer_id = :c AND kind = 'refund'", {"c": customer_id}
        )
        or 0
    )
    linked = linked_accounts(tx, customer_id)
    linked_refunds = 0
    for other in linked:
        linked_refunds += int(
            tx.scalar(
                "SELECT COUNT(*) AS n FROM sim_refunds WHERE customer_id = :c AND kind = 'refund' AND created_at >= :s",
                {"c": other, "s": since},
            )
            or 0
        )
    accounts: set[str] = set()
    if requester and requester != "anonymous":
        rows = tx.execute(
            "SELECT args FROM reviews WHERE requester = :r AND action = 'refund' AND kind = 'review' "
            "AND created_at >= :s",
            {"r": requester, "s": since},
        )
        orders = set()
        for row in rows:
            try:
                order_id = (json.loads(row["args"] or "{}") or {}).get("order_id")
            except (TypeError, ValueError):
                continue
            if order_id:
                orders.add(str(order_id))
        for order_id in sorted(orders):
            owner = tx.scalar("SELECT customer_id FROM sim_orders WHERE id = :o", {"o": order_id})
            if owner:
                accounts.add(str(owner))
        accounts.add(customer_id)
    return {
        "prior_refunds": prior,
        "linked_accounts": linked,
        "linked_refunds": linked_refunds,
        "requester_refund_accounts": len(accounts),
    }
