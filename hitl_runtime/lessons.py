"""Lessons from reviewers' feedback: proposed, queued, reviewed, evaluated, and only then remembered.

The seed's warning, made into a gate: human edits and rejections do not become memory blindly.

1. `propose_from_feedback` groups structured feedback (edits, rejections, escalations, requests for
   information) by action and correction category; a group with enough members becomes a proposed
   lesson: a note (text the agent reads as context) and, for categories with a known remedy, a
   rule in the policy's own rule language (fact, operator, value, outcome) that the validator
   applies. `propose` takes a hand-written lesson. Lesson text is screened: personal data is
   masked, and text carrying injected instructions is refused.
2. Proposed lessons wait in the `lessons` table (the queue).
3. `accept` needs a reviewer whose role may decide the agent's escalations, not the lesson's
   proposer. It then evaluates the agent on the scenario sets twice, with the lessons already
   remembered and with this one added; the lesson is remembered only if, on every set, false_auto
   does not rise and route accuracy does not fall. Either way the before and after figures are
   recorded with the lesson (`refused` when it would regress).
4. Remembered lessons live in the agent's LangGraph store (`hitl_core/memory.py`); `retire`
   takes one out again.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from guardrails.input_checks import detect_injection, redact
from guardrails.policy import Rule
from hitl_core import audit, memory
from hitl_core.canonical import dumps, loads, new_id, now_iso, parse_iso, utc_now
from hitl_core.db import Database, Row, Tx
from hitl_core.errors import BadInput, Conflict, Forbidden, NotFound
from hitl_core.schema import MIGRATIONS
from hitl_core.settings import Settings, configured
from hitl_core.users import get_user
from hitl_runtime.agents import agent_module, agent_policy, lesson_rules
from hitl_runtime.evaluation import evaluate, load_scenarios

STATUSES = ("proposed", "evaluating", "active", "refused", "rejected", "retired")
MIN_FEEDBACK = 2
"""How many pieces of feedback of one category on one action it takes to propose a lesson."""
STALE_EVALUATION_SECONDS = 3600
"""An evaluation that has not finished after this long (its process died) may be started again."""


def _lesson_ddl() -> list[str]:
    return [s for s in MIGRATIONS[0] if "lessons" in s.split("(")[0]]


def ensure_table(tx: Tx) -> None:
    """Create the queue in a database that was upgraded before lessons existed (idempotent)."""
    for statement in _lesson_ddl():
        tx.execute(statement)


def _public(row: Row) -> dict[str, Any]:
    return {
        **row,
        "rule": loads(row["rule"]) if row.get("rule") else None,
        "feedback_ids": loads(row["feedback_ids"], []),
        "evaluation": loads(row["evaluation"]) if row.get("evaluation") else None,
    }


def get(db: Database, lesson_id: str) -> dict[str, Any]:
    """One lesson, or NotFound."""
    with db.transaction() as tx:
        ensure_table(tx)
        row = tx.one("SELECT * FROM lessons WHERE id = :i", {"i": lesson_id})
    if row is None:
        raise NotFound(f"unknown lesson {lesson_id!r}")
    return _public(row)


def list_lessons(
    db: Database, *, status: str | None = None, agent: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Lessons, newest first; `status` all or one of STATUSES."""
    if status not in (None, "all", *STATUSES):
        raise BadInput(f"unknown status {status!r} (all, {', '.join(STATUSES)})")
    where: list[str] = []
    params: dict[str, Any] = {"l": limit}
    if status and status != "all":
        where.append("status = :s")
        params["s"] = status
    if agent:
        where.append("agent = :a")
        params["a"] = agent
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with db.transaction() as tx:
        ensure_table(tx)
        rows = tx.execute(f"SELECT * FROM lessons {clause} ORDER BY proposed_at DESC LIMIT :l", params)
    return [_public(r) for r in rows]


# -- proposing ---------------------------------------------------------------------------------------
def _clean_text(text: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        raise BadInput("a lesson needs a text")
    if len(text) > 1000:
        raise BadInput("a lesson's text is longer than 1000 characters")
    injected = detect_injection(text)
    if injected:
        raise BadInput(f"the lesson text reads as instructions injected into memory ({', '.join(injected)}); refused")
    return redact(text, mask_health=True)[0]


def validate_rule(rule: Any, agent: str, lesson_id: str) -> dict[str, Any]:
    """A lesson rule in the policy's rule language, checked against the agent's actions."""
    if not isinstance(rule, dict):
        raise BadInput("--rule must be a JSON object with fact, op, value, outcome and rule")
    try:
        parsed = Rule.model_validate({"id": f"lesson_{lesson_id}", **{k: v for k, v in rule.items() if k != "id"}})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "rule"
        raise BadInput(f"--rule: {where}: {first['msg']}") from None
    policy = agent_policy(agent)
    for action in parsed.actions or []:
        if action not in policy.actions:
            raise BadInput(f"--rule: actions: the {agent} policy has no action {action!r}")
    return parsed.model_dump()


def propose(
    db: Database,
    agent: str,
    actor: str,
    text: str,
    *,
    rule: dict[str, Any] | None = None,
    action: str | None = None,
    category: str | None = None,
    feedback_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Queue one lesson for review."""
    agent_module(agent)
    get_user(db, actor)
    lesson_id = new_id("les")
    row = {
        "id": lesson_id,
        "agent": agent,
        "status": "proposed",
        "kind": "rule" if rule else "note",
        "text": _clean_text(text),
        "rule": dumps(validate_rule(rule, agent, lesson_id)) if rule else None,
        "action": action,
        "category": category,
        "feedback_ids": dumps(sorted(feedback_ids or [])),
        "proposed_by": actor,
        "proposed_at": now_iso(),
    }
    with db.transaction() as tx:
        ensure_table(tx)
        tx.execute(
            """INSERT INTO lessons (id, agent, status, kind, text, rule, action, category, feedback_ids,
                                    proposed_by, proposed_at)
               VALUES (:id, :agent, :status, :kind, :text, :rule, :action, :category, :feedback_ids,
                       :proposed_by, :proposed_at)""",
            row,
        )
        audit.append(
            tx,
            "lesson_proposed",
            actor,
            {"lesson": lesson_id, "agent": agent, "kind": row["kind"], "text": row["text"]},
        )
    return get(db, lesson_id)


def propose_from_feedback(
    db: Database, agent: str, actor: str, *, min_count: int = MIN_FEEDBACK
) -> list[dict[str, Any]]:
    """Proposed lessons for feedback groups (action, category) not yet covered by a lesson."""
    with db.transaction() as tx:
        ensure_table(tx)
        used = {
            i
            for r in tx.execute("SELECT feedback_ids FROM lessons WHERE agent = :a", {"a": agent})
            for i in loads(r["feedback_ids"], [])
        }
        rows = tx.execute(
            "SELECT * FROM feedback WHERE agent = :a AND kind IN ('edit', 'reject', 'escalate', 'request_info') ORDER BY at",
            {"a": agent},
        )
    groups: dict[tuple[str | None, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row["id"] not in used:
            groups[(row["action"], row["category"] or "other")].append(row)
    proposed = []
    for (action, category), members in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if len(members) < min_count:
            continue
        comments = []
        for member in members:
            comment = (member["comment"] or "").strip()
            if comment and not detect_injection(comment):
                comments.append(redact(comment, mask_health=True)[0][:160])
        kinds = sorted({m["kind"] for m in members})
        text = (
            f"Reviewers corrected {action or 'proposals'} {len(members)} times ({', '.join(kinds)}) "
            f"for {category.replace('_', ' ')}."
        )
        if comments:
            text += " They said: " + "; ".join(f'"{c}"' for c in comments[:3])
        proposed.append(
            propose(
                db,
                agent,
                actor,
                text[:1000],
                rule=lesson_rules(agent).get((action, category)),
                action=action,
                category=category,
                feedback_ids=[m["id"] for m in members],
            )
        )
    return proposed


# -- deciding -----------------------------------------------------------------------------------------
def reviewer_roles(agent: str) -> list[str]:
    """Roles that may accept or reject an agent's lessons: those of its escalation path."""
    policy = agent_policy(agent)
    return sorted({r for tier in policy.escalation_path for r in tier.roles})


def _authorize(db: Database, lesson: dict[str, Any], reviewer: str) -> str:
    user = get_user(db, reviewer)
    if user.name == lesson["proposed_by"]:
        raise Forbidden(f"{user.name} proposed this lesson and cannot decide it")
    roles = reviewer_roles(lesson["agent"])
    if not user.has_any(roles):
        raise Forbidden(
            f"{user.name} (roles: {', '.join(user.roles)}) may not decide {lesson['agent']} lessons: "
            f"it needs one of {', '.join(roles)}"
        )
    return user.name


def reject(db: Database, lesson_id: str, reviewer: str, comment: str | None = None) -> dict[str, Any]:
    """A reviewer turns a proposed lesson down; it never reaches memory."""
    lesson = get(db, lesson_id)
    name = _authorize(db, lesson, reviewer)
    with db.transaction() as tx:
        changed = tx.rowcount(
            "UPDATE lessons SET status = 'rejected', decided_by = :u, decided_at = :t, comment = :c "
            "WHERE id = :i AND status = 'proposed'",
            {"u": name, "t": now_iso(), "c": comment, "i": lesson_id},
        )
        if changed != 1:
            raise Conflict(f"lesson {lesson_id} is {lesson['status']}, not proposed")
        audit.append(tx, "lesson_rejected", name, {"lesson": lesson_id, "agent": lesson["agent"], "comment": comment})
    return get(db, lesson_id)


def default_datasets(agent: str, settings: Settings | None = None) -> list[Path]:
    """The scenario sets a lesson is evaluated on.

    `lesson_datasets` (`HITL_LESSON_DATASETS`) when set, else the agent's sets in the `scenario_dirs`
    folders (`HITL_SCENARIO_DIRS`).
    """
    settings = settings or configured()
    if settings.lesson_datasets:
        return [Path(p) for p in settings.lesson_datasets]
    folders = [Path(folder) for folder in settings.scenario_dirs]
    candidates = [folder / f"{agent}{suffix}.jsonl" for folder in folders for suffix in ("", "_holdout")]
    return [p for p in candidates if p.exists()]


def no_regression(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """The gate on one scenario set: false_auto does not rise and route accuracy does not fall."""
    return bool(after["false_auto"] <= before["false_auto"] and after["route_accuracy"] >= before["route_accuracy"])


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "route_accuracy", "false_auto", "automation_rate", "mistakes")
    return {k: result.get(k) for k in keys}


def memory_value(lesson: dict[str, Any]) -> dict[str, Any]:
    """What the agent remembers of an accepted lesson."""
    return {
        "id": lesson["id"],
        "kind": lesson["kind"],
        "text": lesson["text"],
        "rule": lesson["rule"],
        "action": lesson.get("action"),
        "accepted_by": lesson.get("decided_by"),
        "accepted_at": lesson.get("decided_at"),
    }


def accept(
    db: Database,
    lesson_id: str,
    reviewer: str,
    *,
    datasets: list[Path] | None = None,
    comment: str | None = None,
    evaluate_fn: Any = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A reviewer accepts; the lesson is remembered only if the evaluation shows no regression.

    Without `datasets`, the sets `settings` name (`default_datasets`).
    """
    lesson = get(db, lesson_id)
    name = _authorize(db, lesson, reviewer)
    sets = datasets if datasets is not None else default_datasets(lesson["agent"], settings)
    if not sets:
        raise BadInput(
            f"no scenario sets to evaluate {lesson['agent']} lessons on (pass --dataset, or set HITL_SCENARIO_DIRS)"
        )
    loaded = [(path, load_scenarios(path, lesson["agent"])) for path in sets]
    started = now_iso()
    with db.transaction() as tx:
        stale = (
            lesson["status"] == "evaluating"
            and lesson.get("decided_at")
            and (utc_now() - parse_iso(lesson["decided_at"])).total_seconds() > STALE_EVALUATION_SECONDS
        )
        changed = tx.rowcount(
            "UPDATE lessons SET status = 'evaluating', decided_by = :u, decided_at = :t, comment = :c "
            "WHERE id = :i AND (status = 'proposed' OR (status = 'evaluating' AND :stale = 1))",
            {"u": name, "t": started, "c": comment, "i": lesson_id, "stale": 1 if stale else 0},
        )
        if changed != 1:
            raise Conflict(f"lesson {lesson_id} is {lesson['status']}, not proposed")
    run = evaluate_fn or evaluate
    sync(db, lesson["agent"])
    remembered = [v for v in memory.active_lessons(db, lesson["agent"]) if v.get("id") != lesson_id]
    candidate = memory_value({**lesson, "decided_by": name, "decided_at": started})
    try:
        figures = []
        for path, cases in loaded:
            before = _figures(run(lesson["agent"], cases, lessons=remembered, grade_drafts=False))
            after = _figures(run(lesson["agent"], cases, lessons=[*remembered, candidate], grade_drafts=False))
            figures.append({"dataset": str(path), "before": before, "after": after, "ok": no_regression(before, after)})
    except BaseException:
        with db.transaction() as tx:
            tx.execute(
                "UPDATE lessons SET status = 'proposed' WHERE id = :i AND status = 'evaluating'", {"i": lesson_id}
            )
        raise
    passed = all(f["ok"] for f in figures)
    evaluation = {
        "passed": passed,
        "at": now_iso(),
        "datasets": figures,
        "lessons_before": [v["id"] for v in remembered],
    }
    status = "active" if passed else "refused"
    with db.transaction() as tx:
        changed = tx.rowcount(
            "UPDATE lessons SET status = :s, evaluation = :e WHERE id = :i AND status = 'evaluating' AND decided_by = :u",
            {"s": status, "e": dumps(evaluation), "i": lesson_id, "u": name},
        )
        if changed != 1:
            raise Conflict(f"lesson {lesson_id} was decided by someone else meanwhile")
        audit.append(
            tx,
            "lesson_accepted" if passed else "lesson_refused",
            name,
            {"lesson": lesson_id, "agent": lesson["agent"], "evaluation": figures},
        )
    if passed:
        memory.remember(db, lesson["agent"], candidate)
    return get(db, lesson_id)


def retire(db: Database, lesson_id: str, reviewer: str, comment: str | None = None) -> dict[str, Any]:
    """Take an active lesson out of the agent's memory."""
    lesson = get(db, lesson_id)
    user = get_user(db, reviewer)
    roles = reviewer_roles(lesson["agent"])
    if not user.has_any(roles):
        raise Forbidden(f"{user.name} may not retire {lesson['agent']} lessons: it needs one of {', '.join(roles)}")
    with db.transaction() as tx:
        changed = tx.rowcount(
            "UPDATE lessons SET status = 'retired', comment = :c WHERE id = :i AND status = 'active'",
            {"c": comment or lesson.get("comment"), "i": lesson_id},
        )
        if changed != 1:
            raise Conflict(f"lesson {lesson_id} is {lesson['status']}, not active")
        audit.append(
            tx, "lesson_retired", user.name, {"lesson": lesson_id, "agent": lesson["agent"], "comment": comment}
        )
    memory.forget(db, lesson["agent"], lesson_id)
    return get(db, lesson_id)


def sync(db: Database, agent: str) -> dict[str, list[str]]:
    """Make the agent's memory hold exactly its active lessons (after a crash between table and store)."""
    active = {r["id"]: r for r in list_lessons(db, status="active", agent=agent, limit=1000)}
    remembered = {v["id"] for v in memory.active_lessons(db, agent)}
    added = sorted(set(active) - remembered)
    removed = sorted(remembered - set(active))
    for lesson_id in added:
        memory.remember(db, agent, memory_value(active[lesson_id]))
    for lesson_id in removed:
        memory.forget(db, agent, lesson_id)
    return {"added": added, "removed": removed}
