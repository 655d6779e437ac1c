"""Where an order or a ticket stands is answered from its record, not from the help centre.

A help article explains how deliveries or tickets work in general; "any news on my ticket?" asks about
one record, which the agent has looked up. One reading, for the validator (whose evidence rule would
otherwise send every such answer to a person for want of an article) and for the offline model.
"""

from __future__ import annotations

import re
from typing import Any

_STATUS = "status_followup"
_ANSWERED_BESIDE = frozenset({_STATUS, "complaint"})
"""Readings a record answers: where something stands, and the mild venting that often comes with it."""
_NAMES_A_TICKET = re.compile(r"\b(ticket|case|complaint|claim)\b|\bT-\d+\b", re.IGNORECASE)
_NEVER_CAME = re.compile(
    r"\b(never (got|get|received|arrived|came|turned up|showed up)"
    r"|(hasn'?t|has not|didn'?t|did not|haven'?t|have not|wasn'?t|was not) (arrive|come|turn(ed)? up|show(n|ed)? up"
    r"|been delivered|receive|get|got)\w*"
    r"|(not|nothing) (here|there|arrived|received|delivered|has (arrived|turned up|come))"
    r"|nothing (has )?(turned|showed) up|(can'?t|cannot|couldn'?t) find|no sign of|nowhere to be)\b",
    re.IGNORECASE,
)
"""Words saying a delivery did not reach the customer: the record's "delivered" is what they dispute."""


def record_in_question(
    found: dict[str, Any], text: str, order: dict[str, Any] | None, ticket: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The looked-up record that answers a request asking only where it stands, or None.

    `found` is the intent reading (`guardrails.intents.classify`). A request read also as a question
    ("it says processing: what does that mean?") needs an article, and anything stricter a person, so
    only a status reading (with venting at most) is answered from a record: the ticket when the request
    names one, else the order in question.
    """
    readings = {str(m["id"]) for m in found.get("matches") or []}
    if _STATUS not in readings or not readings <= _ANSWERED_BESIDE:
        return None
    if _NAMES_A_TICKET.search(text):
        return {"kind": "ticket", **ticket} if ticket else None
    if order and order.get("days_since_delivery") is not None and _NEVER_CAME.search(text):
        return None  # "it says delivered but it's not here": the help centre's missing-parcel steps answer it
    return {"kind": "order", **order} if order else None


def standing(order: dict[str, Any]) -> dict[str, str]:
    """An order's delivery and refund in words: shown to the reviewer and restated by a status answer."""
    days = order.get("days_since_delivery")
    refunded = float(order.get("refunded") or 0)
    return {
        "delivery": "not delivered yet" if days is None else f"delivered {days} days ago",
        "refund": f"refunded {refunded:g} {order.get('currency') or ''}".rstrip()
        if refunded
        else "nothing refunded yet",
    }


def status_answer(name: str, record: dict[str, Any]) -> str:
    """The record's own facts, said to the customer: nothing the record does not hold."""
    if record["kind"] == "ticket":
        return f"Hi {name}, thanks for checking in. Your ticket {record['id']} is {record.get('status') or 'open'}."
    item = f" ({record['item']})" if record.get("item") else ""
    now = standing(record)
    delivery = "has not been delivered yet" if record.get("days_since_delivery") is None else f"was {now['delivery']}"
    refund = f"It was {now['refund']}." if record.get("refunded") else "Nothing has been refunded on it yet."
    return f"Hi {name}, thanks for checking in. Your order {record['id']}{item} {delivery}. {refund}"
