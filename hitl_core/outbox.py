"""The notifications outbox: who must hear of a review change, written in the transaction that makes it.

A row is written by the code that changes a review, in the same `tx`, so a notification exists if and
only if its cause committed (a review created in a transaction that rolls back leaves no row). Each
event has one place where it happens:

- `review_requested` / `review_escalated`: `reviews.register`, when the row for a new review is
  inserted; it is an escalation when the thread's last decision on this turn escalated (a reviewer's,
  or an expiry whose fallback is `escalate`). To the roles of the review's tier.
- `question_asked`: `reviews.register`, for a question to the requester. To the requester.
- `review_expired`: the runtime's expiry (`Runner._expire`), with the fallback taken. To the tier's roles.
- `decision_applied`: `reviews.mark_applied`, when a final decision (approved, approved with edits,
  rejected, dismissed, an expiry that approved or rejected) has been consumed by its thread. To the requester.
- `deadline_approaching`: a periodic scan (`deadline_candidates`, `warn_deadline`) once a share of a
  pending review's window has passed; its idempotency key makes it once per review.

`recipient` holds channel keys (`role:NAME`, `requester:NAME`), never addresses: the delivery layer
(`hitl_runtime/notifications.py`, which knows apprise and the configuration) resolves them to URLs
when it sends, so no URL or secret is stored. The payload is masked (`hitl_core.masking`) before it
is written, though what it is built from was masked on the way in already. This module holds all of
the outbox's SQL; delivery claims rows through `next_due` (FOR UPDATE SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from hitl_core.actions import get_action
from hitl_core.canonical import dumps, iso, loads, new_id, now_iso, parse_iso
from hitl_core.db import Database, Row, Tx
from hitl_core.errors import BadInput, Conflict, HitlError, NotFound
from hitl_core.masking import mask_text, mask_value
from hitl_core.users import ANONYMOUS

EVENTS: Final = (
    "review_requested",
    "review_escalated",
    "question_asked",
    "deadline_approaching",
    "review_expired",
    "decision_applied",
)
STATUSES: Final = ("pending", "sent", "dead", "skipped")
"""`skipped`: nothing to send (no channel configured for its recipients, or a deadline warning for a
review decided meanwhile)."""
REQUESTER_EVENTS: Final = ("question_asked", "decision_applied")
"""Events addressed to the requester: their payload holds only what the requester may read."""
MAX_REASONS: Final = 3
MAX_TEXT: Final = 300


def requester_key(name: str) -> str:
    """The channel key of a requester."""
    return f"requester:{name}"


def role_key(role: str) -> str:
    """The channel key of a role."""
    return f"role:{role}"


def enqueue(
    tx: Tx,
    *,
    event: str,
    review_id: str | None,
    thread_id: str | None,
    agent: str | None,
    recipients: list[str],
    payload: Mapping[str, Any],
    key: str | None = None,
) -> bool:
    """Write one notification in the caller's transaction; False when its idempotency key exists already."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    if not recipients:
        return False
    now = now_iso()
    return (
        tx.rowcount(
            """INSERT INTO notifications (id, event, review_id, thread_id, agent, recipient, payload, idempotency_key,
                   attempts, next_attempt_at, status, created_at)
               VALUES (:id, :event, :review, :thread, :agent, :recipient, :payload, :key, 0, :now, 'pending', :now)
               ON CONFLICT DO NOTHING""",
            {
                "id": new_id("nt"),
                "event": event,
                "review": review_id,
                "thread": thread_id,
                "agent": agent,
                "recipient": ",".join(dict.fromkeys(recipients)),
                "payload": dumps(mask_value(dict(payload))),
                "key": key or f"hitl:{event}:{review_id}",
                "now": now,
            },
        )
        == 1
    )


# -- what a notification says ---------------------------------------------------------------------------
def _decoded(value: Any, default: Any) -> Any:
    return loads(value, default) if isinstance(value, str) else (default if value is None else value)


def _target(action: str | None, args: Mapping[str, Any]) -> dict[str, Any]:
    """What the action is about: its identity arguments (a refund's order), else its `*_id` arguments."""
    keys: tuple[str, ...] = ()
    if action:
        try:
            keys = get_action(action).identity
        except BadInput:  # an action of an agent this process has not loaded: fall back to the ids
            keys = ()
    keys = keys or tuple(k for k in args if k.endswith("_id"))
    return {k: args[k] for k in keys if isinstance(args.get(k), (str, int, float)) and not isinstance(args[k], bool)}


def facts(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a reviewer's notification says about a review: from its row (stored or about to be)."""
    args = _decoded(row.get("args"), {}) or {}
    reasons = [mask_text(str(r))[:MAX_TEXT] for r in (_decoded(row.get("reasons"), []) or [])[:MAX_REASONS]]
    return {
        "review_id": row["id"],
        "thread_id": row["thread_id"],
        "agent": row["agent"],
        "kind": row.get("kind", "review"),
        "action": row.get("action"),
        "target": _target(row.get("action"), args if isinstance(args, dict) else {}),
        "amount": row.get("amount"),
        "currency": args.get("currency") if isinstance(args, dict) else None,
        "risk": row.get("risk"),
        "confidence": row.get("confidence"),
        "tier": row.get("tier_name"),
        "tier_index": row.get("tier"),
        "roles": list(_decoded(row.get("required_roles"), []) or []),
        "approvals": row.get("approvals_required"),
        "deadline": row.get("deadline"),
        "requester": row.get("requester"),
        "reasons": reasons,
        "created_at": row.get("created_at"),
    }


def _requester_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the requester's notification says: their request, never the reviewers' risk, tiers or names."""
    shown = facts(row)
    keep = ("review_id", "thread_id", "agent", "action", "target", "amount", "currency", "requester")
    return {k: shown[k] for k in keep}


def _roles(row: Mapping[str, Any]) -> list[str]:
    return [role_key(r) for r in (_decoded(row.get("required_roles"), []) or [])]


def _has_channel(requester: Any) -> bool:
    return isinstance(requester, str) and bool(requester) and requester != ANONYMOUS


def _about(tx: Tx, row: Mapping[str, Any], event: str, recipients: list[str], payload: Mapping[str, Any]) -> bool:
    """`enqueue` for an event about one review row (its id, thread and agent name the notification)."""
    return enqueue(
        tx,
        event=event,
        review_id=row["id"],
        thread_id=row["thread_id"],
        agent=row["agent"],
        recipients=recipients,
        payload=payload,
    )


# -- the events -----------------------------------------------------------------------------------------
def review_registered(tx: Tx, row: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
    """A new review (or an escalated one) to its tier's roles, or a question to its requester."""
    if row.get("kind") == "question":
        if not _has_channel(row.get("requester")):
            return False
        payload = _requester_facts(row) | {
            "question": mask_text(str(value.get("question") or ""))[: 4 * MAX_TEXT],
            "deadline": row.get("deadline"),
        }
        return _about(tx, row, "question_asked", [requester_key(row["requester"])], payload)
    payload = facts(row) | {"fallback": value.get("expiry_fallback")}
    history = value.get("history") or []
    last = history[-1] if history and isinstance(history[-1], Mapping) else {}
    escalated = (
        int(row.get("tier") or 0) > 0 and last.get("effective") == "escalate" and last.get("turn") == value.get("turn")
    )
    if escalated:
        payload["escalated_from"] = {
            "review_id": last.get("review_id"),
            "by": last.get("reviewer") or "deadline",
            "comment": mask_text(str(last.get("comment") or ""))[:MAX_TEXT] or None,
        }
    return _about(tx, row, "review_escalated" if escalated else "review_requested", _roles(row), payload)


def review_expired(tx: Tx, row: Mapping[str, Any], fallback: str) -> bool:
    """Nobody decided a review by its deadline: its tier's roles hear which fallback was taken."""
    if row.get("kind") != "review":
        return False
    return _about(tx, row, "review_expired", _roles(row), facts(row) | {"fallback": fallback})


OUTCOMES: Final = {
    "approved": "approved",
    "approved_with_edits": "approved with changes",
    "rejected": "declined",
    "dismissed": "closed without action",
}


def outcome_of(row: Mapping[str, Any]) -> str | None:
    """The final outcome a requester is told of, or None while the request is still being reviewed."""
    status = row.get("status")
    decision = _decoded(row.get("decision"), {}) or {}
    if status == "approved_with_edits" and not decision.get("covered", True):
        return None  # the edited proposal went to another review
    if status == "expired":
        return {"approve": "approved (no reviewer answered in time)", "reject": "declined (not reviewed in time)"}.get(
            str(decision.get("fallback"))
        )
    return OUTCOMES.get(str(status))


def decision_applied(tx: Tx, review_id: str, row: Row | None = None) -> bool:
    """A final decision reached its thread: the requester hears the outcome (when they can be reached).

    `row` is the review's row as the caller's transaction just wrote it, when it has it (no second read).
    """
    if row is None:
        row = tx.one("SELECT * FROM reviews WHERE id = :i", {"i": review_id})
    if row is None or row["kind"] != "review" or not _has_channel(row["requester"]):
        return False
    outcome = outcome_of(row)
    if outcome is None:
        return False
    decision = _decoded(row.get("decision"), {}) or {}
    args = (decision.get("edited_action") or {}).get("args") if row["status"] == "approved_with_edits" else None
    shown = dict(row) | ({"args": args} if isinstance(args, dict) else {})
    if isinstance(args, dict):
        shown["amount"] = row["amount"] if "amount" not in args else args["amount"]
    return _about(
        tx,
        row,
        "decision_applied",
        [requester_key(row["requester"])],
        _requester_facts(shown) | {"status": row["status"], "outcome": outcome},
    )


def warning_at(created_at: str, deadline: str, share: float) -> str:
    """When a review's deadline warning is due: `share` of the way from its creation to its deadline."""
    start, end = parse_iso(created_at), parse_iso(deadline)
    return iso(start + timedelta(seconds=max(0.0, (end - start).total_seconds()) * share))


def deadline_candidates(db: Database, now: str, limit: int = 1000) -> list[Row]:
    """Pending reviews before their deadline that have had no warning yet, nearest deadline first."""
    return db.read(
        """SELECT r.id, r.created_at, r.deadline FROM reviews r
           WHERE r.status = 'pending' AND r.kind = 'review' AND r.deadline IS NOT NULL AND r.deadline > :now
             AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.idempotency_key = 'hitl:deadline_approaching:' || r.id)
           ORDER BY r.deadline LIMIT :limit""",
        {"now": now, "limit": limit},
    )


def warn_deadline(tx: Tx, review_id: str, now: str, share: float) -> bool:
    """Write a review's deadline warning if it is still pending and `share` of its window has passed; once."""
    row = tx.one("SELECT * FROM reviews WHERE id = :i", {"i": review_id})
    if row is None or row["status"] != "pending" or row["kind"] != "review" or not row["deadline"]:
        return False
    if not warning_at(row["created_at"], row["deadline"], share) <= now < row["deadline"]:
        return False
    value = loads(row["payload"], {}) or {}
    return _about(
        tx,
        row,
        "deadline_approaching",
        _roles(row),
        facts(row) | {"fallback": value.get("expiry_fallback"), "warned_at": now},
    )


# -- delivery's side of the table ---------------------------------------------------------------------------
def next_due(tx: Tx, now: str, *, lock: bool) -> Row | None:
    """The next pending row due by `now`; with `lock` (PostgreSQL), locked, skipping rows another worker holds."""
    sql = (
        "SELECT * FROM notifications WHERE status = 'pending' AND next_attempt_at <= :now "
        "ORDER BY next_attempt_at, id LIMIT 1"
    )
    return tx.one(sql + (" FOR UPDATE SKIP LOCKED" if lock else ""), {"now": now})


def claim(tx: Tx, notification_id: str, until: str) -> bool:
    """Hold a row until `until` without a lock (SQLite): it is not due again before then."""
    return (
        tx.rowcount(
            "UPDATE notifications SET next_attempt_at = :u WHERE id = :i AND status = 'pending'",
            {"u": until, "i": notification_id},
        )
        == 1
    )


def review_status(tx: Tx, review_id: str | None) -> str | None:
    """The status of a notification's review (None when it has none)."""
    if review_id is None:
        return None
    value = tx.scalar("SELECT status FROM reviews WHERE id = :i", {"i": review_id})
    return None if value is None else str(value)


def mark_sent(tx: Tx, notification_id: str, delivered: list[str], now: str) -> None:
    """Every channel took the message."""
    tx.execute(
        """UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = :now, delivered = :d,
               last_error = NULL WHERE id = :i""",
        {"now": now, "d": dumps(sorted(delivered)), "i": notification_id},
    )


def mark_failed(
    tx: Tx, notification_id: str, error: str, delivered: list[str], next_attempt: str | None, now: str
) -> None:
    """A channel refused or was unreachable: try again at `next_attempt`, or dead-letter it (None)."""
    tx.execute(
        """UPDATE notifications SET status = :s, attempts = attempts + 1, next_attempt_at = :n, last_error = :e,
               delivered = :d WHERE id = :i""",
        {
            "s": "pending" if next_attempt else "dead",
            "n": next_attempt or now,
            "e": mask_text(error)[:1000],
            "d": dumps(sorted(delivered)),
            "i": notification_id,
        },
    )


def mark_skipped(tx: Tx, notification_id: str, reason: str, now: str) -> None:
    """Nothing to send: say why."""
    tx.execute(
        "UPDATE notifications SET status = 'skipped', sent_at = :now, last_error = :e WHERE id = :i",
        {"now": now, "e": reason[:1000], "i": notification_id},
    )


def public(row: Row) -> dict[str, Any]:
    """A notification as the CLI and the app show it (payload decoded)."""
    return {
        "id": row["id"],
        "event": row["event"],
        "status": row["status"],
        "review_id": row["review_id"],
        "thread_id": row["thread_id"],
        "agent": row["agent"],
        "recipient": row["recipient"].split(",") if row["recipient"] else [],
        "idempotency_key": row["idempotency_key"],
        "attempts": int(row["attempts"]),
        "next_attempt_at": row["next_attempt_at"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "sent_at": row["sent_at"],
        "delivered": len(loads(row["delivered"], []) or []),
        "payload": loads(row["payload"], {}),
    }


def listing(db: Database, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The outbox, newest first, optionally one status."""
    if status is not None and status not in STATUSES:
        raise BadInput(f"unknown notification status {status!r} (choose from: {', '.join(STATUSES)})")
    if not 1 <= limit <= 10_000:
        raise BadInput("--limit must be between 1 and 10000")
    where = "WHERE status = :s " if status else ""
    rows = db.read(
        f"SELECT * FROM notifications {where}ORDER BY created_at DESC, id DESC LIMIT :l", {"s": status, "l": limit}
    )
    return [public(r) for r in rows]


def counts(db: Database) -> dict[str, int]:
    """How many notifications are in each status."""
    rows = db.read("SELECT status, COUNT(*) AS n FROM notifications GROUP BY status")
    found = {str(r["status"]): int(r["n"]) for r in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def requeue(db: Database, notification_id: str, now: str | None = None) -> dict[str, Any]:
    """Put a dead letter back in the queue: due now, its attempts counted afresh (NotFound, Conflict)."""
    with db.transaction() as tx:
        row = tx.one("SELECT * FROM notifications WHERE id = :i", {"i": notification_id})
        if row is None:
            raise NotFound(f"unknown notification {notification_id!r}")
        if row["status"] != "dead":
            raise Conflict(
                f"notification {notification_id} is {row['status']}, not dead: only a dead letter is retried"
            )
        tx.execute(
            "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = :n WHERE id = :i",
            {"n": now or now_iso(), "i": notification_id},
        )
        fresh = tx.one("SELECT * FROM notifications WHERE id = :i", {"i": notification_id})
    if fresh is None:  # pragma: no cover - the row was read in the same transaction
        raise HitlError(f"notification {notification_id} vanished")
    return public(fresh)


def purge(db: Database, before: str) -> int:
    """Delete sent and skipped notifications created before `before` (dead letters stay until retried)."""
    with db.transaction() as tx:
        return tx.rowcount(
            "DELETE FROM notifications WHERE status IN ('sent', 'skipped') AND created_at < :b", {"b": before}
        )
