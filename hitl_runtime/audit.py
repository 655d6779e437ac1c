"""Append-only, hash-chained audit events.

Each thread has its own chain (plus a `system` chain for events outside threads), so concurrent
decisions on different threads never wait on one global tail. A head row per chain records the last
sequence number and hash: editing a row breaks its hash, deleting one breaks the links, and
deleting the tail no longer matches the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hitl_runtime.canonical import canonical_json, loads, new_id, now_iso, sha256_hex
from hitl_runtime.db import Database, Tx

GENESIS = "0" * 64
SYSTEM_STREAM = "system"


def _event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    fields = {k: event[k] for k in _HASHED_FIELDS}
    return sha256_hex(prev_hash + canonical_json(fields))


_HASHED_FIELDS = (
    "id",
    "stream",
    "stream_seq",
    "kind",
    "thread_id",
    "review_id",
    "action_id",
    "actor",
    "at",
    "payload_hash",
    "data",
)


def append(
    tx: Tx,
    kind: str,
    actor: str,
    data: dict[str, Any],
    *,
    thread_id: str | None = None,
    review_id: str | None = None,
    action_id: str | None = None,
    payload_hash: str | None = None,
) -> str:
    """Append one event to its thread's chain inside the caller's transaction; return its id."""
    stream = thread_id or SYSTEM_STREAM
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    head = tx.one(f"SELECT seq, hash FROM audit_heads WHERE stream = :s{lock}", {"s": stream})
    event = {
        "id": new_id("ev"),
        "stream": stream,
        "stream_seq": 1,
        "kind": kind,
        "thread_id": thread_id,
        "review_id": review_id,
        "action_id": action_id,
        "actor": actor,
        "at": now_iso(),
        "payload_hash": payload_hash,
        "data": canonical_json(data),
    }
    if head is None:
        # A new chain: its head row is created already pointing at its first event.
        event["prev_hash"] = GENESIS
        event["hash"] = _event_hash(GENESIS, event)
        created = tx.rowcount(
            "INSERT INTO audit_heads (stream, seq, hash) VALUES (:s, 1, :h) ON CONFLICT DO NOTHING",
            {"s": stream, "h": event["hash"]},
        )
        if created == 1:
            _insert_event(tx, event)
            return str(event["id"])
        head = tx.one(f"SELECT seq, hash FROM audit_heads WHERE stream = :s{lock}", {"s": stream})
        assert head is not None
    event["stream_seq"] = int(head["seq"]) + 1
    event["prev_hash"] = head["hash"]
    event["hash"] = _event_hash(head["hash"], event)
    _insert_event(tx, event)
    tx.execute(
        "UPDATE audit_heads SET seq = :seq, hash = :h WHERE stream = :s",
        {"seq": event["stream_seq"], "h": event["hash"], "s": stream},
    )
    return str(event["id"])


def _insert_event(tx: Tx, event: dict[str, Any]) -> None:
    tx.execute(
        """INSERT INTO audit_events (id, stream, stream_seq, kind, thread_id, review_id, action_id,
               actor, at, payload_hash, data, prev_hash, hash)
           VALUES (:id, :stream, :stream_seq, :kind, :thread_id, :review_id, :action_id,
               :actor, :at, :payload_hash, :data, :prev_hash, :hash)""",
        event,
    )


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify`: ok, or the first broken event and why."""

    ok: bool
    events: int
    streams: int
    broken_event: str | None = None
    broken_stream: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the CLI."""
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "broken_event": self.broken_event,
            "broken_stream": self.broken_stream,
            "reason": self.reason,
        }


def verify(db: Database, *, batch: int = 500) -> VerifyResult:
    """Recompute every chain; name the first event whose hash, link or position is wrong."""
    total = 0
    with db.transaction(write=False) as tx:
        heads = tx.execute("SELECT stream, seq, hash FROM audit_heads ORDER BY stream")
        streams = {h["stream"]: h for h in heads}
        orphan = tx.one(
            "SELECT e.id, e.stream FROM audit_events e LEFT JOIN audit_heads h ON h.stream = e.stream "
            "WHERE h.stream IS NULL LIMIT 1"
        )
    if orphan:
        return VerifyResult(False, 0, len(streams), orphan["id"], orphan["stream"], "chain head missing")
    names = sorted(streams)
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        params = {f"s{i}": name for i, name in enumerate(chunk)}
        placeholders = ", ".join(f":s{i}" for i in range(len(chunk)))
        rows = db.read(
            f"SELECT * FROM audit_events WHERE stream IN ({placeholders}) ORDER BY stream, stream_seq",
            params,
        )
        by_stream: dict[str, list[dict[str, Any]]] = {name: [] for name in chunk}
        for row in rows:
            by_stream[row["stream"]].append(row)
        for name in chunk:
            events = by_stream[name]
            total += len(events)
            failure = _verify_stream(name, events, streams[name])
            if failure:
                event_id, reason = failure
                return VerifyResult(False, total, len(streams), event_id, name, reason)
    return VerifyResult(True, total, len(streams))


def _verify_stream(stream: str, events: list[dict[str, Any]], head: dict[str, Any]) -> tuple[str | None, str] | None:
    prev = GENESIS
    for position, event in enumerate(events, start=1):
        if int(event["stream_seq"]) != position:
            return event["id"], f"sequence gap before event {event['stream_seq']} (expected {position})"
        if event["prev_hash"] != prev:
            return event["id"], "link to the previous event does not match (an event was removed or changed)"
        if _event_hash(prev, event) != event["hash"]:
            return event["id"], "contents do not match the event's hash (the event was edited)"
        prev = event["hash"]
    if int(head["seq"]) != len(events) or head["hash"] != prev:
        last = events[-1]["id"] if events else None
        return last, f"chain ends at {len(events)} events but its head says {head['seq']} (events removed)"
    return None


def thread_history(db: Database, thread_id: str) -> list[dict[str, Any]]:
    """A thread's events in order, with their data decoded."""
    rows = db.read("SELECT * FROM audit_events WHERE stream = :s ORDER BY stream_seq", {"s": thread_id})
    return [_decoded(row) for row in rows]


def search(
    db: Database,
    *,
    thread_id: str | None = None,
    actor: str | None = None,
    kind: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Events filtered by thread, actor, kind, action name and time, newest first."""
    where: list[str] = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit}
    for column, value in (("thread_id", thread_id), ("actor", actor), ("kind", kind)):
        if value:
            where.append(f"{column} = :{column}")
            params[column] = value
    if action:
        where.append("data LIKE :action_like")
        params["action_like"] = f'%"action":"{action}"%'
    if since:
        where.append("at >= :since")
        params["since"] = since
    if until:
        where.append("at <= :until")
        params["until"] = until
    rows = db.read(f"SELECT * FROM audit_events WHERE {' AND '.join(where)} ORDER BY at DESC LIMIT :limit", params)
    return [_decoded(row) for row in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["data"] = loads(row["data"], {})
    return out
