"""Simulated helpdesk and billing systems of the demo company, and the support actions on them.

They live in the project's database so an approved action really changes something a test can
read back: a refund moves money in the refunds ledger, a reply waits in an outbox (cancellable
until it is sent), a ticket or account changes status.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hitl_core.actions import ActionSpec, register
from hitl_core.canonical import iso, new_id, now_iso, utc_now
from hitl_core.db import Row, Tx
from hitl_core.errors import BadInput, Conflict

OUTBOX_UNDO_WINDOW_SECONDS = 600
"""Replies wait this long in the outbox before `hitl sweep` sends them: the undo window."""


# -- records -------------------------------------------------------------------------------
def default_customer_id(requester: str) -> str:
    """The customer record an end user maps to when the request names none."""
    return f"c-{requester}"


def load_context(tx: Tx, context: dict[str, Any], requester: str) -> None:
    """Load a scenario's facts (customer, order, ticket) into the systems; missing ones default."""
    raw = context.get("customer")
    customer: dict[str, Any] = raw if isinstance(raw, dict) else {}
    customer_id = str(customer.get("id") or default_customer_id(requester))
    upsert(
        tx,
        "sim_customers",
        {
            "id": customer_id,
            "name": str(customer.get("name") or requester),
            "tier": str(customer.get("tier") or "standard"),
            "lifetime_value": float(customer.get("lifetime_value") or 0),
            "status": str(customer.get("status") or "active"),
            "email": customer.get("email"),
        },
        keep=("status",) if not customer.get("status") else (),
    )
    order = context.get("order")
    if isinstance(order, dict) and order.get("id"):
        upsert(
            tx,
            "sim_orders",
            {
                "id": str(order["id"]),
                "customer_id": customer_id,
                "item": order.get("item"),
                "amount": float(order.get("amount") or 0),
                "currency": str(order.get("currency") or "USD"),
                "days_since_delivery": order.get("days_since_delivery"),
                "refunded": 0.0,
            },
            keep=("refunded",),
        )
    ticket = context.get("ticket")
    if isinstance(ticket, dict) and ticket.get("id"):
        upsert(
            tx,
            "sim_tickets",
            {
                "id": str(ticket["id"]),
                "customer_id": customer_id,
                "channel": str(ticket.get("channel") or "chat"),
                "prior_contacts": int(ticket.get("prior_contacts") or 0),
                "status": str(ticket.get("status") or "open"),
            },
            keep=("status",),
        )


def upsert(tx: Tx, table: str, row: dict[str, Any], keep: tuple[str, ...] = ()) -> None:
    """Insert or update by id; columns in `keep` are not overwritten on update (live state)."""
    columns = list(row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "id" and c not in keep)
    tx.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        row,
    )


def customer(tx: Tx, customer_id: str) -> Row | None:
    """A customer record."""
    return tx.one("SELECT * FROM sim_customers WHERE id = :i", {"i": customer_id})


def orders_of(tx: Tx, customer_id: str) -> list[Row]:
    """A customer's orders."""
    return tx.execute("SELECT * FROM sim_orders WHERE customer_id = :c ORDER BY id", {"c": customer_id})


def tickets_of(tx: Tx, customer_id: str) -> list[Row]:
    """A customer's tickets."""
    return tx.execute("SELECT * FROM sim_tickets WHERE customer_id = :c ORDER BY id", {"c": customer_id})


def _order(tx: Tx, order_id: str) -> Row:
    row = tx.one("SELECT * FROM sim_orders WHERE id = :i", {"i": order_id})
    if row is None:
        raise BadInput(f"unknown order {order_id!r}")
    return row


def _ticket(tx: Tx, ticket_id: str) -> Row:
    row = tx.one("SELECT * FROM sim_tickets WHERE id = :i", {"i": ticket_id})
    if row is None:
        raise BadInput(f"unknown ticket {ticket_id!r}")
    return row


def _customer(tx: Tx, customer_id: str) -> Row:
    row = customer(tx, customer_id)
    if row is None:
        raise BadInput(f"unknown customer {customer_id!r}")
    return row


# -- actions -------------------------------------------------------------------------------
class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplyArgs(_Args):
    """Send a message to the customer."""

    customer_id: str = Field(min_length=1, max_length=64)
    message: str = Field(min_length=1, max_length=4000, description="The exact text the customer receives")


class RefundArgs(_Args):
    """Refund money to the order's original payment method."""

    order_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=100_000, description="Amount to refund")
    currency: Literal["USD", "EUR", "GBP"] = "USD"
    reason: str = Field(min_length=1, max_length=500)


class TicketArgs(_Args):
    """Change a ticket's status."""

    ticket_id: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=1000)


class AccountStatusArgs(_Args):
    """Change a customer account's status."""

    customer_id: str = Field(min_length=1, max_length=64)
    status: Literal["active", "suspended", "closed"]
    reason: str = Field(min_length=1, max_length=500)


def _reply(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    outbox_id = new_id("msg")
    tx.execute(
        "INSERT INTO sim_outbox (id, thread_id, customer_id, body, status, created_at) "
        "VALUES (:i, :t, :c, :b, 'queued', :at)",
        {"i": outbox_id, "t": thread_id, "c": args["customer_id"], "b": args["message"], "at": now_iso()},
    )
    return {"outbox_id": outbox_id, "customer_id": args["customer_id"]}


def _cancel_reply(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    changed = tx.rowcount(
        "UPDATE sim_outbox SET status = 'cancelled' WHERE id = :i AND status = 'queued'",
        {"i": effect["outbox_id"]},
    )
    if changed != 1:
        raise Conflict(f"message {effect['outbox_id']} was already sent and cannot be cancelled")
    return {"outbox_id": effect["outbox_id"], "status": "cancelled"}


def _preview_reply(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    row = customer(tx, args["customer_id"])
    return {
        "message": args["message"],
        "to": row["name"] if row else args["customer_id"],
        "effect": "queued in the outbox; sent after the undo window unless cancelled",
    }


def _refund(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    order = _order(tx, args["order_id"])
    remaining = float(order["amount"]) - float(order["refunded"])
    if args["amount"] > remaining + 1e-9:
        raise BadInput(f"refund {args['amount']:.2f} exceeds what is left on order {order['id']} ({remaining:.2f})")
    refund_id = new_id("rf")
    tx.execute(
        "INSERT INTO sim_refunds (id, order_id, customer_id, amount, currency, kind, reason, created_at) "
        "VALUES (:i, :o, :c, :a, :cur, 'refund', :r, :at)",
        {
            "i": refund_id,
            "o": order["id"],
            "c": order["customer_id"],
            "a": args["amount"],
            "cur": args.get("currency", "USD"),
            "r": args["reason"],
            "at": now_iso(),
        },
    )
    tx.execute("UPDATE sim_orders SET refunded = refunded + :a WHERE id = :o", {"a": args["amount"], "o": order["id"]})
    return {
        "refund_id": refund_id,
        "order_id": order["id"],
        "customer_id": order["customer_id"],
        "amount": args["amount"],
    }


def _reverse_refund(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    reversal_id = new_id("rf")
    tx.execute(
        "INSERT INTO sim_refunds (id, order_id, customer_id, amount, currency, kind, reason, created_at) "
        "VALUES (:i, :o, :c, :a, 'USD', 'reversal', :r, :at)",
        {
            "i": reversal_id,
            "o": effect["order_id"],
            "c": effect["customer_id"],
            "a": -effect["amount"],
            "r": f"reverses {effect['refund_id']}",
            "at": now_iso(),
        },
    )
    tx.execute(
        "UPDATE sim_orders SET refunded = refunded - :a WHERE id = :o", {"a": effect["amount"], "o": effect["order_id"]}
    )
    return {"reversal_id": reversal_id, "amount": -effect["amount"]}


def _preview_refund(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    order = tx.one("SELECT * FROM sim_orders WHERE id = :i", {"i": args["order_id"]})
    if order is None:
        return {
            "money": f"refund {args['amount']:.2f} {args.get('currency', 'USD')} to unknown order {args['order_id']}"
        }
    currency, paid, refunded = order["currency"], float(order["amount"]), float(order["refunded"])
    total = refunded + float(args["amount"])
    # Amounts with their currency, in the reviewer's words: what the order looks like now and after.
    return {
        "money": f"-{args['amount']:.2f} {currency} from Northwind Home to the original payment method",
        "order": {"id": order["id"], "paid": f"{paid:.2f} {currency}", "refunded_so_far": f"{refunded:.2f} {currency}"},
        "after_approval": {
            "refunded_in_total": f"{total:.2f} of {paid:.2f} {currency}",
            "left_to_refund": f"{max(paid - total, 0.0):.2f} {currency}",
        },
    }


def _set_ticket(status: str) -> Any:
    def run(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
        ticket = _ticket(tx, args["ticket_id"])
        tx.execute("UPDATE sim_tickets SET status = :s WHERE id = :i", {"s": status, "i": ticket["id"]})
        return {"ticket_id": ticket["id"], "previous_status": ticket["status"], "status": status}

    return run


def _restore_ticket(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    tx.execute(
        "UPDATE sim_tickets SET status = :s WHERE id = :i", {"s": effect["previous_status"], "i": effect["ticket_id"]}
    )
    return {"ticket_id": effect["ticket_id"], "status": effect["previous_status"]}


def _preview_ticket(status: str) -> Any:
    def preview(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
        ticket = tx.one("SELECT status FROM sim_tickets WHERE id = :i", {"i": args["ticket_id"]})
        before = ticket["status"] if ticket else "unknown"
        return {"change": {"ticket": args["ticket_id"], "status": [before, status]}}

    return preview


def _account_status(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    row = _customer(tx, args["customer_id"])
    tx.execute("UPDATE sim_customers SET status = :s WHERE id = :i", {"s": args["status"], "i": row["id"]})
    return {"customer_id": row["id"], "previous_status": row["status"], "status": args["status"]}


def _restore_account(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    tx.execute(
        "UPDATE sim_customers SET status = :s WHERE id = :i",
        {"s": effect["previous_status"], "i": effect["customer_id"]},
    )
    return {"customer_id": effect["customer_id"], "status": effect["previous_status"]}


def _preview_account(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    row = customer(tx, args["customer_id"])
    return {"change": {"account": args["customer_id"], "status": [row["status"] if row else "unknown", args["status"]]}}


REPLY = register(
    ActionSpec(
        "reply",
        "Send a reply to the customer",
        ReplyArgs,
        _reply,
        _cancel_reply,
        _preview_reply,
        undo_plan="Cancel the message while it waits in the outbox (10 minutes); after that, send a correction.",
        identity=("customer_id",),
        draft_arg="message",
    )
)
REFUND = register(
    ActionSpec(
        "refund",
        "Refund money to the order's original payment method",
        RefundArgs,
        _refund,
        _reverse_refund,
        _preview_refund,
        undo_plan="Post a compensating reversal of the same amount in the refunds ledger.",
        identity=("order_id",),
        confirm=lambda a: (
            f"Your refund of {a['amount']:.2f} {a.get('currency', 'USD')} for order {a['order_id']} was issued "
            "to your original payment method; it appears within 5-7 business days."
        ),
        done="refunded",
    )
)
CLOSE_TICKET = register(
    ActionSpec(
        "close_ticket",
        "Close the support ticket",
        TicketArgs,
        _set_ticket("closed"),
        _restore_ticket,
        _preview_ticket("closed"),
        undo_plan="Restore the ticket's previous status.",
        identity=("ticket_id",),
        confirm=lambda a: f"Ticket {a['ticket_id']} was closed.",
    )
)
REOPEN_TICKET = register(
    ActionSpec(
        "reopen_ticket",
        "Reopen the support ticket",
        TicketArgs,
        _set_ticket("open"),
        _restore_ticket,
        _preview_ticket("open"),
        undo_plan="Restore the ticket's previous status.",
        identity=("ticket_id",),
        confirm=lambda a: f"Ticket {a['ticket_id']} was reopened; we'll pick it up shortly.",
    )
)
CHANGE_ACCOUNT_STATUS = register(
    ActionSpec(
        "change_account_status",
        "Change the customer's account status",
        AccountStatusArgs,
        _account_status,
        _restore_account,
        _preview_account,
        undo_plan="Restore the account's previous status.",
        identity=("customer_id", "status"),
        confirm=lambda a: f"Your account status was changed to {a['status']}.",
    )
)


def sweep(tx: Tx) -> int:
    """The agent's step in `hitl sweep`: send the replies whose undo window has passed."""
    return dispatch_outbox(tx, iso(utc_now() - timedelta(seconds=OUTBOX_UNDO_WINDOW_SECONDS)))


def dispatch_outbox(tx: Tx, older_than_iso: str) -> int:
    """Send queued replies whose undo window has passed; return how many were sent."""
    return tx.rowcount(
        "UPDATE sim_outbox SET status = 'sent' WHERE status = 'queued' AND created_at <= :t",
        {"t": older_than_iso},
    )
