"""The reviews table: one row per pending interrupt, the inbox, and compare-and-set decisions.

The inbox is a query on this table (indexed by status, role, agent and deadline), never a scan of
checkpoints. A row moves out of `pending` exactly once, by a conditional UPDATE: when two
reviewers race, one UPDATE touches the row and the other touches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, cast

from hitl_core import audit, interrupt_view, outbox, tracing
from hitl_core.canonical import dumps, loads, now_iso, value_hash
from hitl_core.db import Database, Row, Tx
from hitl_core.errors import BadInput, Conflict, Forbidden, NotFound
from hitl_core.limits import check_text

if TYPE_CHECKING:  # types only: LangChain's agents package is slow to import (see hitl_core/payloads.py)
    from hitl_core.payloads import QuestionRequest, ReviewRequest

DECISION_STATUS: Final = {
    "approve": "approved",
    "edit": "approved_with_edits",
    "reject": "rejected",
    "request_info": "needs_info",
    "escalate": "escalated",
    "ignore": "dismissed",
    "expire": "expired",
    "answer": "answered",
}
"""Review states, as the seed lists them: pending review, approved, approved with edits, ..."""
DECIDED: Final = ("approved", "approved_with_edits", "rejected", "dismissed", "needs_info", "escalated", "answered")
SORTS: Final = {
    "deadline": "r.deadline ASC, r.created_at ASC",
    "newest": "r.created_at DESC",
    "oldest": "r.created_at ASC",
    "risk": "r.risk DESC, r.deadline ASC",
    "amount": "r.amount DESC, r.deadline ASC",
}


Refusal = Literal["own_request", "no_role"]
"""Why someone may not decide a review: they asked for it, or they hold none of its tier's roles."""


class Person(Protocol):
    """Anyone who might decide a review: an account, or a simulated reviewer."""

    @property
    def name(self) -> str:
        """The account name, compared with the review's requester."""
        ...

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles held, compared with the review's tier."""
        ...


def decide_refusal(person: Person, review: Mapping[str, Any]) -> Refusal | None:
    """Why `person` may not decide `review` (None: they may); one rule for the runtime, the app and the simulation."""
    if person.name == review["requester"]:
        return "own_request"
    if not any(role in person.roles for role in review["required_roles"]):
        return "no_role"
    return None


def register(
    tx: Tx,
    *,
    interrupt_id: str,
    value: ReviewRequest | QuestionRequest,
    agent: str,
    thread_id: str,
    requester: str,
) -> bool:
    """Write the row for a pending interrupt (a review's `ReviewRequest` or a `QuestionRequest`); once per interrupt."""
    kind = value.get("kind", "review")  # a value without a kind is a review, as it always was
    payload_hash = interrupt_view.payload_hash(value)
    # The two shapes, told apart the way the rows always were (by `kind`).
    question = cast("QuestionRequest", value) if kind == "question" else None
    review = cast("ReviewRequest", value) if question is None else None
    if review is None:
        action, args, roles, tier_name, approvals = None, None, ["end_user"], "requester", 1
    else:
        request = review["action_requests"][0]
        action, args = request["name"], request["args"]
        roles, tier_name, approvals = review["tier"]["roles"], review["tier"]["name"], review["tier"]["approvals"]
    row: dict[str, Any] = {
        "id": value["review_id"],
        "kind": kind,
        "thread_id": thread_id,
        "interrupt_id": interrupt_id,
        "agent": agent,
        "requester": requester,
        "action": action,
        "args": dumps(args) if args is not None else None,
        "amount": review.get("amount") if review else None,
        "route": review.get("route") if review else None,
        "risk": review.get("risk") if review else None,
        "confidence": review.get("confidence") if review else None,
        "reasons": dumps(review.get("reasons", []) if review else []),
        "required_roles": dumps(roles),
        "tier": (review.get("tier") or {}).get("index", 0) if review else 0,
        "tier_name": tier_name,
        "approvals_required": approvals,
        "deadline": value.get("deadline"),
        "payload": dumps(interrupt_view.as_shown(value)),
        "payload_hash": payload_hash,
        "status": "pending",
        "created_at": now_iso(),
    }
    shown = {
        "action": action,
        "args": args,
        "question": question.get("question") if question else None,
        "evidence": [{"id": e["id"], "score": e["score"]} for e in (review.get("evidence", []) if review else [])],
        "checks_failed": [c["id"] for c in (review.get("checks", []) if review else []) if not c["passed"]],
        "risk": review.get("risk") if review else None,
        "confidence": review.get("confidence") if review else None,
        "tier": tier_name,
        "required_roles": roles,
        "deadline": value.get("deadline"),
    }
    inserted = tx.rowcount(
        """INSERT INTO reviews (id, kind, thread_id, interrupt_id, agent, requester, action, args, amount,
               route, risk, confidence, reasons, required_roles, tier, tier_name, approvals_required,
               deadline, payload, payload_hash, status, created_at)
           VALUES (:id, :kind, :thread_id, :interrupt_id, :agent, :requester, :action, :args, :amount,
               :route, :risk, :confidence, :reasons, :required_roles, :tier, :tier_name, :approvals_required,
               :deadline, :payload, :payload_hash, :status, :created_at)
           ON CONFLICT DO NOTHING""",
        row,
    )
    if inserted != 1:
        _asked_again(tx, row, shown)
        return False
    tracing.mark("hitl.review", review_id=row["id"], thread_id=thread_id, agent=agent, action=action, kind=kind)
    for role in roles:
        tx.execute(
            "INSERT INTO review_roles (role, review_id) VALUES (:r, :i) ON CONFLICT DO NOTHING",
            {"r": role, "i": row["id"]},
        )
    audit.append(
        tx,
        "question_asked" if kind == "question" else "review_requested",
        f"agent:{agent}",
        shown,
        thread_id=thread_id,
        review_id=row["id"],
        payload_hash=payload_hash,
    )
    outbox.review_registered(tx, row, value)  # who must hear of it, committed with the row or not at all
    return True


def _asked_again(tx: Tx, row: dict[str, Any], shown: dict[str, Any]) -> None:
    """The same pending review asked again, under LangGraph's new interrupt id: the row follows the pause.

    Its gate refused a resume that did not come through the runtime (the payload is the same), or a
    run died after writing this row and before checkpointing its pause, and the sweep ran the step
    again: that payload differs (a later deadline), and the row takes it, audited, so that the row
    says what the thread waits on and a decision on it can pass the checks. A second asking for
    another kind, action, tier or number of approvers is not taken.
    """
    relinked = tx.rowcount(
        """UPDATE reviews SET interrupt_id = :interrupt_id
           WHERE id = :id AND thread_id = :thread_id AND status = 'pending' AND payload_hash = :payload_hash
             AND interrupt_id <> :interrupt_id""",
        row,
    )
    if relinked:
        return
    restated = tx.rowcount(
        """UPDATE reviews SET interrupt_id = :interrupt_id, args = :args, amount = :amount, route = :route,
               risk = :risk, confidence = :confidence, reasons = :reasons, deadline = :deadline,
               payload = :payload, payload_hash = :payload_hash
           WHERE id = :id AND thread_id = :thread_id AND status = 'pending' AND payload_hash <> :payload_hash
             AND interrupt_id <> :interrupt_id AND kind = :kind AND COALESCE(action, '') = COALESCE(:action, '')
             AND required_roles = :required_roles AND tier = :tier AND approvals_required = :approvals_required""",
        row,
    )
    if restated:
        audit.append(
            tx,
            "review_restated",
            f"agent:{row['agent']}",
            shown,
            thread_id=row["thread_id"],
            review_id=row["id"],
            payload_hash=row["payload_hash"],
        )


def approve_by_edit(tx: Tx, value: ReviewRequest, thread_id: str) -> None:
    """Start a review opened by an edit with the editor's approval of the new arguments.

    Only when the editor may decide at its tier: they are one of the approvers it needs, never all.
    """
    proposed_by = value["proposed_by"]
    if proposed_by is None:
        return
    proposer = str(proposed_by.get("reviewer") or "")
    tier = value["tier"]
    account = tx.one("SELECT roles FROM users WHERE name = :n", {"n": proposer})
    if not proposer or account is None or int(tier.get("approvals") or 1) <= 1:
        return
    if not set(loads(account["roles"], [])) & set(tier.get("roles") or []):
        return
    args_hash = value_hash(value["action_requests"][0]["args"])
    count = add_approval(tx, value["review_id"], proposer, args_hash)
    audit.append(
        tx,
        "approval_recorded",
        proposer,
        {
            "action": value["action_requests"][0]["name"],
            "approvals": count,
            "required": tier.get("approvals"),
            "args_hash": args_hash,
            "by_edit": proposed_by.get("edit_of"),
        },
        thread_id=thread_id,
        review_id=value["review_id"],
        payload_hash=interrupt_view.payload_hash(value),
    )


def get(db: Database, review_id: str) -> dict[str, Any]:
    """A review in its public form, or NotFound."""
    return public(get_row(db, review_id))


def get_row(db: Database, review_id: str) -> Row:
    """A review's raw row (with its interrupt id and payload), or NotFound."""
    rows = db.read("SELECT * FROM reviews WHERE id = :i", {"i": review_id})
    if not rows:
        raise NotFound(f"unknown review {review_id!r}")
    return rows[0]


def recorded_decision(db: Database, review_id: str) -> dict[str, Any] | None:
    """A review's thread, status, decider and recorded decision (None if there is no such review)."""
    rows = db.read("SELECT thread_id, status, decided_by, decision FROM reviews WHERE id = :i", {"i": review_id})
    return {**rows[0], "decision": loads(rows[0]["decision"])} if rows else None


def shown_payload(db: Database, review_id: str) -> dict[str, Any] | None:
    """The interrupt value a review was opened with (what its reviewers saw), or None if there is no such review."""
    rows = db.read("SELECT payload FROM reviews WHERE id = :i", {"i": review_id})
    return loads(rows[0]["payload"]) if rows else None


def with_context(db: Database, review_id: str) -> dict[str, Any]:
    """Everything a reviewer sees of a review, or NotFound.

    Its public form, the exact interrupt value under `interrupt`, the approvals so far and the
    thread's other reviews: `hitl show` reads it with the database alone.
    """
    row = get_row(db, review_id)
    review = public(row)
    review["interrupt"] = loads(row["payload"])
    review["approvals"] = approvals(db, review_id)
    review["thread_reviews"] = [
        {k: r[k] for k in ("id", "kind", "status", "action", "decided_by", "decided_at", "tier_name")}
        for r in for_thread(db, review["thread_id"])
        if r["id"] != review_id
    ]
    return review


def row_for_update(tx: Tx, review_id: str) -> Row:
    """The raw row inside a transaction, or NotFound."""
    row = tx.one("SELECT * FROM reviews WHERE id = :i", {"i": review_id})
    if row is None:
        raise NotFound(f"unknown review {review_id!r}")
    return row


def already_decided(row: Row | dict[str, Any]) -> Conflict:
    """The answer a losing reviewer gets."""
    who = row.get("decided_by") or "the deadline"
    return Conflict(f"review {row['id']} was already decided ({row['status']}) by {who} at {row.get('decided_at')}")


def compare_and_set(tx: Tx, review_id: str, status: str, actor: str, decision: dict[str, Any]) -> bool:
    """Move a pending review to `status`; False when someone else moved it first."""
    return (
        tx.rowcount(
            """UPDATE reviews SET status = :s, decided_by = :a, decided_at = :t, decision = :d
               WHERE id = :i AND status = 'pending'""",
            {"s": status, "a": actor, "t": now_iso(), "d": dumps(decision), "i": review_id},
        )
        == 1
    )


def mark_applied(tx: Tx, review_id: str) -> None:
    """The thread has consumed this decision (the requester hears a final one: `outbox.decision_applied`)."""
    applied = tx.one(
        "UPDATE reviews SET applied_at = :t WHERE id = :i AND applied_at IS NULL RETURNING *",
        {"t": now_iso(), "i": review_id},
    )
    if applied is not None:
        outbox.decision_applied(tx, review_id, applied)


def add_approval(tx: Tx, review_id: str, reviewer: str, args_hash: str) -> int:
    """Record one approver's approval of these exact arguments; return how many distinct approvers they have."""
    inserted = tx.rowcount(
        """INSERT INTO review_approvals (review_id, reviewer, at, args_hash) VALUES (:i, :r, :t, :h)
           ON CONFLICT DO NOTHING""",
        {"i": review_id, "r": reviewer, "t": now_iso(), "h": args_hash},
    )
    if inserted != 1:
        raise Conflict(f"{reviewer} has already approved review {review_id}; a different approver is needed")
    return len(approvers_of(tx, review_id, args_hash))


def approvers_of(tx: Tx, review_id: str, args_hash: str) -> list[str]:
    """Distinct approvers of these exact arguments, in the order they approved."""
    rows = tx.execute(
        "SELECT reviewer FROM review_approvals WHERE review_id = :i AND args_hash = :h ORDER BY at, reviewer",
        {"i": review_id, "h": args_hash},
    )
    return [r["reviewer"] for r in rows]


def authorizing_approvers(tx: Tx, review_id: str, thread_id: str, args: dict[str, Any]) -> list[str]:
    """Who approved exactly these arguments on this review, per the reviews table; Forbidden if nobody did.

    The executor calls this inside the transaction that performs the effect, so whatever value reached
    the graph (a forged resume, a replayed decision), an effect runs only for a recorded approval.
    """
    row = tx.one("SELECT * FROM reviews WHERE id = :i", {"i": review_id})
    if row is None or row["thread_id"] != thread_id or row["kind"] != "review":
        raise Forbidden(f"no recorded review {review_id!r} on thread {thread_id} approves this action")
    wanted = value_hash(args)
    decision = loads(row["decision"], {}) or {}
    status = row["status"]
    if status == "approved":
        if value_hash(loads(row["args"], {})) != wanted:
            raise Forbidden(f"review {review_id} approved other arguments than these")
        if int(row["approvals_required"]) <= 1:
            return [str(row["decided_by"])]
        approvers = approvers_of(tx, review_id, wanted)
        if len(approvers) < int(row["approvals_required"]):
            raise Forbidden(
                f"review {review_id} has {len(approvers)} of {row['approvals_required']} approvals of these arguments"
            )
        return approvers
    if status == "approved_with_edits":
        edited = (decision.get("edited_action") or {}).get("args")
        if not decision.get("covered") or not isinstance(edited, dict) or value_hash(edited) != wanted:
            raise Forbidden(f"review {review_id}'s edit did not approve these arguments")
        return [str(row["decided_by"])]
    if status == "expired" and decision.get("fallback") == "approve":
        if value_hash(loads(row["args"], {})) != wanted:
            raise Forbidden(f"review {review_id} expired on other arguments than these")
        return ["deadline"]
    raise Forbidden(f"review {review_id} is {status}: nothing recorded approves this action")


def approvals(db: Database, review_id: str) -> list[dict[str, Any]]:
    """Approvals recorded so far on a review needing several approvers."""
    return db.read(
        "SELECT reviewer, at, args_hash FROM review_approvals WHERE review_id = :i ORDER BY at, reviewer",
        {"i": review_id},
    )


def pending_question(db: Database, thread_id: str) -> Row | None:
    """The open question to the requester on a thread, if any."""
    rows = db.read(
        "SELECT * FROM reviews WHERE thread_id = :t AND kind = 'question' AND status = 'pending' ORDER BY created_at DESC",
        {"t": thread_id},
    )
    return rows[0] if rows else None


def for_thread(db: Database, thread_id: str) -> list[dict[str, Any]]:
    """All reviews and questions of a thread, oldest first."""
    rows = db.read("SELECT * FROM reviews WHERE thread_id = :t ORDER BY created_at", {"t": thread_id})
    return [public(r) for r in rows]


def overdue(db: Database, now: str, limit: int = 500) -> list[Row]:
    """Pending reviews and questions past their deadline."""
    return db.read(
        "SELECT * FROM reviews WHERE status = 'pending' AND deadline IS NOT NULL AND deadline < :n "
        "ORDER BY deadline LIMIT :l",
        {"n": now, "l": limit},
    )


def unapplied(db: Database, decided_before: str, limit: int = 500) -> list[Row]:
    """Decisions recorded but not yet consumed by their thread (a crash between the two)."""
    return db.read(
        "SELECT * FROM reviews WHERE applied_at IS NULL AND status <> 'pending' AND decided_at < :b "
        "ORDER BY decided_at LIMIT :l",
        {"b": decided_before, "l": limit},
    )


def inbox(
    db: Database,
    *,
    status: str = "pending",
    role: str | None = None,
    roles: list[str] | None = None,
    agent: str | None = None,
    action: str | None = None,
    kind: str | None = "review",
    limit: int = 50,
    offset: int = 0,
    sort: str = "deadline",
    search: str | None = None,
) -> list[dict[str, Any]]:
    """One page of reviews, filtered; a role filter goes through the review_roles index.

    `search` finds text in the request, the action's arguments (its target) and the review id, case
    aside and literally (`%` and `_` are not wildcards). Each row also carries what a dense inbox
    line needs: `request` (the requester's words), `first_requested_at` (when the first review of
    this request opened, which an escalation or an edit does not reset), `escalated_by` and
    `approvals` (distinct approvers so far).
    """
    filters = {"status": status, "role": role, "roles": roles, "agent": agent, "action": action, "kind": kind}
    return _page(db, filters, limit=limit, offset=offset, sort=sort, search=search, total=False)[0]


def inbox_page(
    db: Database,
    *,
    status: str = "pending",
    roles: list[str] | None = None,
    agent: str | None = None,
    action: str | None = None,
    kind: str | None = "review",
    limit: int = 50,
    offset: int = 0,
    sort: str = "deadline",
    search: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """`inbox`'s page and the total number of matching reviews (the app's list and its count).

    With a search the total comes with the page from the same scan (a window count over the rows the
    search index found); without one, the page stops early on the deadline index and the total is
    read from the maintained counts (`inbox_count`).
    """
    filters = {"status": status, "role": None, "roles": roles, "agent": agent, "action": action, "kind": kind}
    rows, total = _page(db, filters, limit=limit, offset=offset, sort=sort, search=search, total=True)
    if total is None:  # no search, or a page past the end: count apart
        total = inbox_count(db, status=status, roles=roles, agent=agent, action=action, kind=kind, search=search)
    return rows, total


def _page(
    db: Database, filters: dict[str, Any], *, limit: int, offset: int, sort: str, search: str | None, total: bool
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the inbox, with the window total when searching (and `total` is asked for)."""
    if sort not in SORTS:
        raise BadInput(f"unknown sort {sort!r} (choose from: {', '.join(SORTS)})")
    if not 1 <= limit <= 1000 or offset < 0:
        raise BadInput("--limit must be between 1 and 1000 (and offset not negative)")
    role = filters.pop("role")
    where, params = _filters(**{**filters, "roles": [role] if role else (filters["roles"] or [])})
    windowed = _search_filter(db, search, where, params) and total
    params.update({"limit": limit, "offset": offset})
    rows = db.read(
        f"SELECT r.*{', COUNT(*) OVER () AS inbox_total' if windowed else ''} FROM reviews r "
        f"WHERE {' AND '.join(where)} ORDER BY {SORTS[sort]} LIMIT :limit OFFSET :offset",
        params,
    )
    return _inbox_rows(db, rows), int(rows[0]["inbox_total"]) if windowed and rows else None


def inbox_count(
    db: Database,
    *,
    status: str = "pending",
    role: str | None = None,
    roles: list[str] | None = None,
    agent: str | None = None,
    action: str | None = None,
    kind: str | None = "review",
    search: str | None = None,
) -> int:
    """How many reviews `inbox` would page through with the same filters (the inbox's total).

    Without a search or an action filter, read from the maintained counts (a few rows); otherwise
    counted on the indexes.
    """
    if action is None and (search is None or not search.strip()):
        return sum(
            _maintained_counts(
                db, status=status, kind=kind, roles=[role] if role else (roles or []), agent=agent
            ).values()
        )
    where, params = _filters(
        status=status, agent=agent, action=action, kind=kind, roles=[role] if role else (roles or [])
    )
    _search_filter(db, search, where, params)
    return int(db.read(f"SELECT COUNT(*) AS n FROM reviews r WHERE {' AND '.join(where)}", params)[0]["n"])


MAX_SEARCH: Final = 200
"""Longest search text: enough for a sentence of a request, an order id or a review id."""


def _search_filter(db: Database, search: str | None, where: list[str], params: dict[str, Any]) -> bool:
    """Add a literal, case-insensitive substring match on the request, the arguments' values and the id.

    The text is a parameter, never part of the SQL; LIKE's wildcards in it are escaped. It is matched
    against the stored `search_text` (a trigram index serves it on PostgreSQL; see docs/DESIGN.md,
    "The inbox at scale"). True when a term was added.
    """
    if search is None or not search.strip():
        return False
    text = check_text(search.strip(), "the search text", MAX_SEARCH)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "\x1f" not in text:
        # The stored search text (schema version 9): the id, the argument values and the request,
        # lower-cased and joined by U+001F, which this text lacks, so it cannot match across two of
        # them; one LIKE on it is exactly the three terms below, and a trigram index serves it.
        params["search"] = f"%{escaped.lower() if db.dialect == 'postgresql' else escaped}%"
        where.append("r.search_text LIKE :search ESCAPE '\\'")
        if db.dialect == "sqlite" and not any(c in text for c in "%_\\"):
            # SQLite's trigram index (schema version 10) narrows the rows first; it is used only for a
            # LIKE without ESCAPE, so text holding a wildcard or a backslash is matched by the scan alone.
            params["search_index"] = f"%{text}%"
            where.append(
                "r.id IN (SELECT review_id FROM review_search_rows WHERE search_rowid IN"
                " (SELECT rowid FROM review_search WHERE search_text LIKE :search_index))"
            )
        return True
    if db.dialect == "postgresql":  # LIKE is case-sensitive there; LOWER knows Unicode
        params["search"] = f"%{escaped.lower()}%"
        terms = [  # cheapest first; json, not jsonb: parsing it once is all a row needs
            "LOWER(r.id) LIKE :search ESCAPE '\\'",
            "EXISTS (SELECT 1 FROM json_each_text(CAST(COALESCE(r.args, '{}') AS json)) a"
            " WHERE LOWER(a.value) LIKE :search ESCAPE '\\')",
            "LOWER(COALESCE(CAST(r.payload AS json) ->> 'request', '')) LIKE :search ESCAPE '\\'",
        ]
    else:  # SQLite's LIKE ignores case (of ASCII letters) by itself
        params["search"] = f"%{escaped}%"
        terms = [
            "r.id LIKE :search ESCAPE '\\'",
            "EXISTS (SELECT 1 FROM json_each(COALESCE(r.args, '{}')) a"
            " WHERE CAST(a.value AS TEXT) LIKE :search ESCAPE '\\')",
            "COALESCE(json_extract(r.payload, '$.request'), '') LIKE :search ESCAPE '\\'",
        ]
    if not any(c in text for c in '"\\') and all(ord(c) >= 0x20 for c in text):
        # The stored payload holds the request and the arguments, and JSON escapes only quotes,
        # backslashes and control characters: for other text a plain substring test on it (or on
        # the id) is a cheap superset, so the exact terms parse JSON only for the rows that pass it.
        where.append(
            f"({terms[0]} OR {'LOWER(r.payload)' if db.dialect == 'postgresql' else 'r.payload'} LIKE :search ESCAPE '\\')"
        )
    where.append("(" + " OR ".join(terms) + ")")
    return True


def _by_ids(db: Database, select: str, column: str, ids: set[str], tail: str = "") -> list[Row]:
    """`select` restricted to `column IN ids` (bound parameters), nothing when there are no ids."""
    if not ids:
        return []
    names = {f"id{i}": v for i, v in enumerate(sorted(ids))}
    return db.read(f"{select} WHERE {column} IN ({', '.join(f':{k}' for k in names)}){tail}", names)


def _inbox_rows(db: Database, rows: list[Row]) -> list[dict[str, Any]]:
    """Public rows plus the request text, the first request time, who escalated, and approvals so far."""
    out: list[dict[str, Any]] = []
    for row in rows:
        item = public(row)
        payload = loads(row["payload"], {}) or {}
        turn = payload.get("turn")
        earlier = [h for h in payload.get("history") or [] if h.get("turn") == turn and h.get("review_id")]
        last = earlier[-1] if earlier else {}
        item["request"] = payload.get("request") or payload.get("question")
        item["escalated_by"] = (last.get("reviewer") or "the deadline") if last.get("effective") == "escalate" else None
        item["first_review_id"] = earlier[0]["review_id"] if earlier else row["id"]
        out.append(item)
    # One query each, and only when needed: most reviews are their request's first, most need one approver.
    earlier_ids = {i["first_review_id"] for i in out if i["first_review_id"] != i["id"]}
    found = {r["id"]: r["created_at"] for r in _by_ids(db, "SELECT id, created_at FROM reviews", "id", earlier_ids)}
    several = {r["id"] for r in out if int(r["approvals_required"] or 1) > 1}
    counts = {
        r["review_id"]: int(r["n"])
        for r in _by_ids(
            db,
            "SELECT review_id, COUNT(DISTINCT reviewer) AS n FROM review_approvals",
            "review_id",
            several,
            tail=" GROUP BY review_id",
        )
    }
    for item in out:
        item["first_requested_at"] = min(found.get(item.pop("first_review_id"), item["created_at"]), item["created_at"])
        item["approvals"] = counts.get(item["id"], 0)
    return out


def counts_by_agent(db: Database, *, status: str = "pending", roles: list[str] | None = None) -> dict[str, int]:
    """How many reviews each agent has in a status (for the inbox header), from the maintained counts."""
    return _maintained_counts(db, status=status, kind="review", roles=roles or [], agent=None)


def _maintained_counts(
    db: Database, *, status: str, kind: str | None, roles: list[str], agent: str | None
) -> dict[str, int]:
    """Reviews per agent from `review_counts` (schema version 9), never a count of the reviews themselves.

    Triggers keep that table exact in the transaction of every insert, status change and delete of a
    review: a few rows per agent and set of roles, whatever the number of reviews. A role filter
    keeps the groups whose roles include one of them (as the review_roles match does).
    """
    where, params = _filters(status=status, agent=agent, action=None, kind=kind, roles=[])
    where = [w.replace("r.", "c.") for w in where]
    rows = db.read(
        f"SELECT c.agent, c.roles, c.n FROM review_counts c WHERE {' AND '.join(where)} AND c.n <> 0", params
    )
    wanted = set(roles)
    out: dict[str, int] = {}
    for row in rows:
        if wanted and not wanted.intersection(loads(row["roles"], [])):
            continue
        out[row["agent"]] = out.get(row["agent"], 0) + int(row["n"])
    return {name: n for name, n in out.items() if n}


def _filters(
    *, status: str, agent: str | None, action: str | None, kind: str | None, roles: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """WHERE terms and parameters; a role filter goes through the review_roles index."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if status == "decided":
        where.append("r.status IN (" + ", ".join(f"'{s}'" for s in DECIDED) + ")")
    elif status != "all":
        if status not in ("pending", "expired", *DECIDED):
            raise BadInput(f"unknown status {status!r} (pending, decided, expired, all or a review state)")
        where.append("r.status = :status")
        params["status"] = status
    if kind:
        where.append("r.kind = :kind")
        params["kind"] = kind
    if agent:
        where.append("r.agent = :agent")
        params["agent"] = agent
    if action:
        where.append("r.action = :action")
        params["action"] = action
    if roles:
        names = {f"role{i}": r for i, r in enumerate(roles)}
        placeholders = ", ".join(f":{k}" for k in names)
        where.append(
            f"EXISTS (SELECT 1 FROM review_roles rr WHERE rr.review_id = r.id AND rr.role IN ({placeholders}))"
        )
        params.update(names)
    return where or ["1 = 1"], params


def public(row: Row) -> dict[str, Any]:
    """A review as the CLI and the app show it (JSON columns decoded, no raw payload)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "thread_id": row["thread_id"],
        "agent": row["agent"],
        "requester": row["requester"],
        "action": row["action"],
        "args": loads(row["args"]),
        "amount": row["amount"],
        "route": row["route"],
        "risk": row["risk"],
        "confidence": row["confidence"],
        "reasons": loads(row["reasons"], []),
        "required_roles": loads(row["required_roles"], []),
        "tier": row["tier"],
        "tier_name": row["tier_name"],
        "approvals_required": row["approvals_required"],
        "deadline": row["deadline"],
        "status": row["status"],
        "decided_by": row["decided_by"],
        "decided_at": row["decided_at"],
        "decision": loads(row["decision"]),
        "applied_at": row["applied_at"],
        "created_at": row["created_at"],
        "payload_hash": row["payload_hash"],
    }


def decided_counts(db: Database, agent: str, action: str) -> tuple[int, int]:
    """How many reviews of this agent's action were approved, of how many decided (read from an index)."""
    rows = db.read(
        """SELECT SUM(CASE WHEN status IN ('approved', 'approved_with_edits') THEN 1 ELSE 0 END) AS approved,
                  COUNT(*) AS decided
           FROM reviews WHERE agent = :a AND action = :n AND kind = 'review'
             AND status IN ('approved', 'approved_with_edits', 'rejected')""",
        {"a": agent, "n": action},
    )
    if not rows:
        return 0, 0
    return int(rows[0]["approved"] or 0), int(rows[0]["decided"] or 0)
