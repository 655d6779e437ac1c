"""The compliance desk's records: documents under review and the findings register.

A finding is the organisation's recorded answer on a document (a flagged violation, or advice on a
customer commitment), with the name of the compliance officer who decided it. Answers are revised,
never overwritten: a later decision on the same document supersedes the current one and both stay
in the register; undoing a decision withdraws it and reinstates the answer it had superseded.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphs.compliance.files import KNOWLEDGE
from hitl_core.actions import ActionSpec, register
from hitl_core.canonical import dumps, loads, new_id, now_iso, sha256_hex
from hitl_core.db import Row, Tx
from hitl_core.errors import Conflict
from hitl_core.retrieval import read_jsonl

DECIDED = ("approved", "approved_with_edits")


def subject_id(text: str, prefix: str = "doc") -> str:
    """Stable id of a document (or of a request without one): the same text is the same subject."""
    normalised = re.sub(r"\s+", " ", text.strip().lower())
    return f"{prefix}-{sha256_hex(normalised)[:12]}"


def load_context(tx: Tx, context: dict[str, Any], requester: str) -> None:
    """File the scenario's document (with its jurisdiction and data categories) in the document store."""
    document = context.get("document")
    if not isinstance(document, str) or not document.strip():
        return
    categories = context.get("data_categories")
    tx.execute(
        """INSERT INTO sim_compliance_documents (id, body, jurisdiction, data_categories, customer_commitment, loaded_at)
           VALUES (:i, :b, :j, :c, :cc, :at)
           ON CONFLICT (id) DO UPDATE SET jurisdiction = excluded.jurisdiction,
               data_categories = excluded.data_categories, customer_commitment = excluded.customer_commitment""",
        {
            "i": subject_id(document),
            "b": document,
            "j": str(context["jurisdiction"]) if context.get("jurisdiction") else None,
            "c": dumps([str(c) for c in categories] if isinstance(categories, list) else []),
            "cc": 1 if context.get("customer_commitment") else 0,
            "at": now_iso(),
        },
    )


def document(tx: Tx, document_id: str) -> Row | None:
    """A filed document."""
    row = tx.one("SELECT * FROM sim_compliance_documents WHERE id = :i", {"i": document_id})
    if row is not None:
        row["data_categories"] = loads(row["data_categories"], [])
    return row


def _public(row: Row) -> dict[str, Any]:
    return {
        **row,
        "clauses": loads(row["clauses"], []),
        "detail": loads(row["detail"], {}),
        "approvers": loads(row["approvers"], []),
    }


def current_finding(tx: Tx, subject: str) -> dict[str, Any] | None:
    """The organisation's answer in force on a subject, if any."""
    row = tx.one("SELECT * FROM findings WHERE subject_id = :s AND status = 'current'", {"s": subject})
    return _public(row) if row else None


def history(tx: Tx, subject: str) -> list[dict[str, Any]]:
    """Every answer ever recorded on a subject, oldest first (current, superseded and withdrawn)."""
    rows = tx.execute("SELECT * FROM findings WHERE subject_id = :s ORDER BY recorded_at, id", {"s": subject})
    return [_public(r) for r in rows]


def _decider(tx: Tx, thread_id: str) -> tuple[str | None, list[str], str | None]:
    """Who approved the action now being executed: the thread's latest approved review."""
    row = tx.one(
        "SELECT id, decided_by, decision FROM reviews WHERE thread_id = :t AND kind = 'review' "
        "AND status IN ('approved', 'approved_with_edits') ORDER BY decided_at DESC LIMIT 1",
        {"t": thread_id},
    )
    if row is None:
        return None, [], None
    approvers = [str(a) for a in (loads(row["decision"], {}) or {}).get("approvers") or [row["decided_by"]] if a]
    return row["decided_by"], approvers, row["id"]


def _record(kind: str, summary_field: str) -> Any:
    def execute(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
        reviewer, approvers, review_id = _decider(tx, thread_id)
        previous = current_finding(tx, args["subject_id"])
        finding_id = new_id("fnd")
        if previous is not None:
            tx.execute(
                "UPDATE findings SET status = 'superseded', superseded_by = :n WHERE id = :i AND status = 'current'",
                {"n": finding_id, "i": previous["id"]},
            )
        tx.execute(
            """INSERT INTO findings (id, subject_id, kind, action, thread_id, jurisdiction, summary, clauses, detail,
                   status, supersedes, reviewer, approvers, review_id, recorded_at)
               VALUES (:id, :s, :k, :a, :t, :j, :sum, :c, :d, 'current', :sup, :r, :ap, :rv, :at)""",
            {
                "id": finding_id,
                "s": args["subject_id"],
                "k": kind,
                "a": "flag_violation" if kind == "violation" else "advise_commitment",
                "t": thread_id,
                "j": args.get("jurisdiction"),
                "sum": args[summary_field],
                "c": dumps(cited(args)),
                "d": dumps(args),
                "sup": previous["id"] if previous else None,
                "r": reviewer,
                "ap": dumps(approvers),
                "rv": review_id,
                "at": now_iso(),
            },
        )
        return {
            "finding_id": finding_id,
            "subject_id": args["subject_id"],
            "supersedes": previous["id"] if previous else None,
            "reviewer": reviewer,
        }

    return execute


def _withdraw(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    changed = tx.rowcount(
        "UPDATE findings SET status = 'withdrawn', withdrawn_at = :t WHERE id = :i AND status = 'current'",
        {"t": now_iso(), "i": effect["finding_id"]},
    )
    if changed != 1:
        raise Conflict(f"finding {effect['finding_id']} is no longer the current answer; it was revised since")
    reinstated = None
    if effect.get("supersedes") and tx.rowcount(
        "UPDATE findings SET status = 'current', superseded_by = NULL WHERE id = :i AND superseded_by = :n",
        {"i": effect["supersedes"], "n": effect["finding_id"]},
    ):
        reinstated = effect["supersedes"]
    return {"withdrawn": effect["finding_id"], "reinstated": reinstated}


@lru_cache(maxsize=1)
def clause_index() -> dict[str, str]:
    """Every clause of the policy library by its reference (`pol-005 §1`)."""
    return {str(c["ref"]): str(c["text"]) for p in read_jsonl(KNOWLEDGE / "policies.jsonl") for c in p["clauses"]}


def cited(args: dict[str, Any]) -> list[str]:
    """Clause references an action's arguments cite, in order, without repeats."""
    refs = [str(v["clause"]) for v in args.get("violations") or []] + [str(c) for c in args.get("clauses") or []]
    return list(dict.fromkeys(refs))


def _preview_finding(kind: str) -> Any:
    def preview(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
        previous = current_finding(tx, args["subject_id"])
        return {
            "register": f"findings: a new {kind} finding becomes the organisation's answer on {args['subject_id']}",
            "supersedes": (
                {k: previous[k] for k in ("id", "kind", "summary", "reviewer", "recorded_at")} if previous else None
            ),
            "clauses": [
                {"ref": ref, "text": clause_index().get(ref, "(not in the policy library)")} for ref in cited(args)
            ],
            "effect": "recorded with your name; revisable later (a new decision supersedes it, history kept)",
        }

    return preview


def _preview_summary(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "effect": "read-only: the summary is sent to the requester; nothing is recorded",
        "clauses": [
            {"ref": ref, "text": clause_index().get(ref, "(not in the policy library)")} for ref in cited(args)
        ],
    }


# -- actions -----------------------------------------------------------------------------------
class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Violation(_Args):
    """One potential violation and the clause it breaches."""

    clause: str = Field(min_length=3, max_length=40, description="Clause reference, e.g. 'pol-005 §1'")
    issue: str = Field(min_length=1, max_length=600)


class SummaryArgs(_Args):
    """Summarise what policies require on a topic."""

    topic: str = Field(min_length=1, max_length=200)
    jurisdiction: str | None = Field(default=None, max_length=20)
    policies: list[str] = Field(default_factory=list, max_length=10)
    clauses: list[str] = Field(default_factory=list, max_length=20)
    summary: str = Field(min_length=1, max_length=4000)


class FlagArgs(_Args):
    """Record potential violations in a document or practice, citing the clauses."""

    subject_id: str = Field(min_length=1, max_length=64, description="The document (or request) the finding is about")
    jurisdiction: str | None = Field(default=None, max_length=20)
    severity: Literal["low", "medium", "high"]
    violations: list[Violation] = Field(min_length=1, max_length=10)
    summary: str = Field(min_length=1, max_length=2000)
    recommendation: str = Field(min_length=1, max_length=2000)


class CommitmentArgs(_Args):
    """Advise whether the organisation can make a commitment to a customer, and on what conditions."""

    subject_id: str = Field(min_length=1, max_length=64)
    jurisdiction: str | None = Field(default=None, max_length=20)
    commitment: str = Field(min_length=1, max_length=1000, description="The commitment asked for")
    position: Literal["acceptable", "acceptable_with_conditions", "not_acceptable"]
    conditions: list[str] = Field(default_factory=list, max_length=10)
    clauses: list[str] = Field(min_length=1, max_length=20)
    advice: str = Field(min_length=1, max_length=2000)


SUMMARIZE = register(
    ActionSpec(
        "summarize_obligations",
        "Summarise the obligations policies set on a topic (read-only)",
        SummaryArgs,
        preview=_preview_summary,
    )
)
FLAG_VIOLATION = register(
    ActionSpec(
        "flag_violation",
        "Record potential policy violations in the findings register, citing clauses",
        FlagArgs,
        _record("violation", "summary"),
        _withdraw,
        _preview_finding("violation"),
        undo_plan="Withdraw the finding; the answer it superseded (if any) becomes current again.",
        identity=("subject_id",),
        confirm=lambda a: f"The compliance team recorded its finding on {a['subject_id']}: {a['summary']}",
    )
)
ADVISE_COMMITMENT = register(
    ActionSpec(
        "advise_commitment",
        "Record the organisation's advice on a customer commitment in the findings register",
        CommitmentArgs,
        _record("commitment", "advice"),
        _withdraw,
        _preview_finding("commitment"),
        undo_plan="Withdraw the advice; the answer it superseded (if any) becomes current again.",
        identity=("subject_id",),
        confirm=lambda a: (
            f"Compliance recorded its position on the commitment: {a['position'].replace('_', ' ')}. {a['advice']}"
        ),
    )
)
