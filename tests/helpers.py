"""Small builders for test requests; each call uses fresh ids so tests can share a database."""

from __future__ import annotations

import socket
import uuid
from typing import Any

from hitl_lab.children import stop
from hitl_runtime.agents import agent_module

__all__ = ["stop"]


def unique(prefix: str = "t") -> str:
    """A short unique id."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def refund_request(
    runner: Any,
    amount: float,
    *,
    order_amount: float | None = None,
    user: str = "eve",
    tier: str = "standard",
    days: int = 3,
    message: str | None = None,
) -> Any:
    """A customer asks for a refund of `amount` on a fresh order; returns the RunResult."""
    text, context = refund_ask(amount, order_amount=order_amount, tier=tier, days=days)
    return runner.run("support", message or text, user=user, context=context, thread_id=unique("th"))


def refund_ask(
    amount: float, *, order_amount: float | None = None, tier: str = "standard", days: int = 3
) -> tuple[str, dict[str, Any]]:
    """The words and the context of a refund request of `amount` on a fresh order (not sent)."""
    customer, order = unique("c"), "o-" + str(uuid.uuid4().int % 900000 + 100000)
    text = f"My kettle arrived broken. Can I get my ${amount:g} back for order {order}?"
    context = {
        "customer": {"id": customer, "name": "Eve Example", "tier": tier, "lifetime_value": 150},
        "order": {"id": order, "amount": order_amount or amount, "currency": "USD", "days_since_delivery": days},
    }
    return text, context


def seed_order(runner: Any, customer: dict[str, Any], order: dict[str, Any], user: str = "eve") -> None:
    """Put an order on a support customer's record, as the support agent loads a request's context (no run)."""
    with runner.db.transaction() as tx:
        agent_module("support").load_context(tx, {"customer": customer, "order": order}, user)


def close_ticket_request(runner: Any, user: str = "eve") -> Any:
    """A gold customer says their ticket can be closed: a `close_ticket` a support agent reviews (and may dismiss)."""
    ticket = "T-" + str(uuid.uuid4().int % 900000 + 100000)
    context = {
        "customer": {"id": unique("c"), "name": "Eve Example", "tier": "gold", "lifetime_value": 150},
        "ticket": {"id": ticket, "status": "open", "prior_contacts": 1},
    }
    text = "Thanks, all sorted now, you can close the ticket."
    return runner.run("support", text, user=user, context=context, thread_id=unique("th"))


def question(runner: Any, text: str = "What are your customer support hours?", user: str = "eve") -> Any:
    """A plain question from a standard customer."""
    context = {"customer": {"id": unique("c"), "name": "Eve Example", "tier": "standard", "lifetime_value": 100}}
    return runner.run("support", text, user=user, context=context, thread_id=unique("th"))


def free_port() -> int:
    """A loopback port nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def vague_request(runner: Any, user: str = "eve") -> Any:
    """A request the agent cannot act on without asking the requester (it ends `needs_info`)."""
    context = {"customer": {"id": unique("c"), "name": "Eve"}}
    return runner.run("support", "I'd like to return something.", user=user, thread_id=unique("th"), context=context)


def trip_request(runner: Any, user: str = "eve") -> Any:
    """A trip booking on the hand-written travel desk (examples/travel_desk.py), waiting for its travel manager `pat`."""
    from examples import travel_desk
    from hitl_core.users import add_user
    from hitl_runtime.agents import register_agent

    register_agent(travel_desk.NAME, travel_desk)
    add_user(runner.db, "pat", ["travel_manager"], actor="test")
    return runner.run(
        travel_desk.NAME,
        "Book my trip to Lisbon for the partner meeting",
        user=user,
        context={"traveller": user, "destination": "Lisbon", "cost": 900},
    )
