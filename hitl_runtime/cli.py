"""`hitl`: the operator's command line (DESIGN.md's contract).

Exit codes: 0 success, 1 runtime failure, 2 bad input; errors are one line on stderr. Every
command with `--json` prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from hitl_runtime.errors import BadInput, HitlError

Handler = Callable[[argparse.Namespace], Any]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"hitl: {message}", file=sys.stderr)
        raise SystemExit(2)


def _runner() -> Any:
    from hitl_runtime.runner import Runner

    return Runner()


def _print(args: argparse.Namespace, value: Any, text: Callable[[Any], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(value, default=str, ensure_ascii=False))
    else:
        print(text(value))


def _lines(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    header = "  ".join(c.ljust(widths[c]) for c in columns)
    body = ["  ".join(_cell(r.get(c)).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join([header, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)[:60]
    return "" if value is None else str(value)[:60]


def _run_text(result: dict[str, Any]) -> str:
    parts = [
        f"thread {result['thread_id']}: {result['status']} (route {result['route']}, "
        f"risk {_cell(result['risk'])}, confidence {_cell(result['confidence'])})"
    ]
    if result.get("action"):
        parts.append(f"action: {result['action']['name']} {json.dumps(result['action']['args'])}")
    if result.get("reasons"):
        parts.append("reasons: " + "; ".join(result["reasons"]))
    if result.get("reviews"):
        parts.append("waiting on: " + ", ".join(result["reviews"]))
    if result.get("reply"):
        parts.append(f"reply: {result['reply']}")
    return "\n".join(parts)


# -- commands ------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> None:
    from hitl_runtime.runner import parse_json_object

    context = parse_json_object(args.context, "--context") if args.context else None
    result = _runner().run(args.agent, args.message, thread_id=args.thread, user=args.user, context=context)
    _print(args, result.as_dict(), _run_text)
    if result.status == "failed":
        raise SystemExit(1)


def cmd_reply(args: argparse.Namespace) -> None:
    result = _runner().reply(args.thread_id, args.message, user=args.user)
    _print(args, result.as_dict(), _run_text)


def cmd_reviews(args: argparse.Namespace) -> None:
    from hitl_runtime import reviews

    runner = _runner()
    rows = reviews.inbox(
        runner.db,
        status=args.status,
        role=args.role,
        agent=args.agent,
        limit=args.limit,
        offset=args.offset,
        sort=args.sort,
        kind=None if args.include_questions else "review",
    )
    _print(
        args,
        rows,
        lambda r: _lines(
            r, ["id", "agent", "action", "amount", "risk", "confidence", "status", "tier_name", "deadline", "thread_id"]
        ),
    )


def cmd_show(args: argparse.Namespace) -> None:
    review = _runner().show(args.review_id)

    def text(r: dict[str, Any]) -> str:
        payload = r["interrupt"]
        out = [
            f"review {r['id']} ({r['status']}) on thread {r['thread_id']} [{r['agent']}]",
            f"requester: {r['requester']}   deadline: {r['deadline']}   tier: {r['tier_name']} "
            f"(roles: {', '.join(r['required_roles'])}, approvals: {r['approvals_required']})",
        ]
        if payload.get("kind") == "question":
            out.append(f"question: {payload['question']}")
            return "\n".join(out)
        out += [
            f"request: {payload.get('request')}",
            f"proposed: {r['action']} {json.dumps(r['args'])}",
            f"risk {_cell(r['risk'])}  confidence {_cell(r['confidence'])}  route {r['route']}",
            "reasons: " + "; ".join(r["reasons"]),
        ]
        out += [
            f"  confidence signal {s['name']}: {s['value']} ({s['detail']})"
            for s in payload.get("confidence_signals", [])
        ]
        out += [f"  risk signal {s['name']}: {s['value']} ({s['detail']})" for s in payload.get("risk_signals", [])]
        out += [
            f"  check {c['id']}: {'pass' if c['passed'] else 'FAIL -> ' + c['outcome']} ({c['rule']})"
            for c in payload.get("checks", [])
        ]
        out += [
            f"  evidence {e['id']} [{e['source']}] {e['score']:.2f}: {e['title']}" for e in payload.get("evidence", [])
        ]
        out += [f"  tool call {t['name']}: {t['result']}" for t in payload.get("tool_calls", [])]
        out.append(f"preview: {json.dumps(payload.get('preview'), default=str)}")
        out.append(f"undo: {payload.get('undo_plan')}")
        out.append("alternatives: " + "; ".join(payload.get("alternatives", [])))
        out.append("escalation path: " + " -> ".join(t["name"] for t in payload.get("escalation_path", [])) or "(none)")
        out.append(f"payload hash: {r['payload_hash']}")
        return "\n".join(out)

    _print(args, review, text)


def cmd_decide(args: argparse.Namespace) -> None:
    from hitl_runtime.runner import parse_json_object

    edited = parse_json_object(args.args, "--args") if args.args is not None else None
    result = _runner().decide(
        args.review_id,
        args.decision,
        args.reviewer,
        args=edited,
        comment=args.comment,
        category=args.category,
        seen_hash=args.expect_hash,
    )
    _print(
        args,
        result,
        lambda r: (
            f"review {r['review_id']}: {r['status']}"
            + (f" by {r['decided_by']}; thread {r['thread']['status']}" if "thread" in r else f" ({r.get('message')})")
        ),
    )


def cmd_actions(args: argparse.Namespace) -> None:
    from hitl_runtime import ledger

    rows = ledger.list_entries(_runner().db, thread_id=args.thread, limit=args.limit)
    _print(args, rows, lambda r: _lines(r, ["id", "thread_id", "name", "args", "status", "idempotency_key"]))


def cmd_rollback(args: argparse.Namespace) -> None:
    result = _runner().rollback(args.action_id, args.reviewer)
    _print(args, result, lambda r: f"action {r['id']} ({r['name']}): {r['status']} by {r['rolled_back_by']}")


def cmd_sweep(args: argparse.Namespace) -> None:
    result = _runner().sweep()
    _print(
        args,
        result,
        lambda r: (
            f"expired {len(r['expired'])}, resumed {len(r['resumed'])}, sent {r['sent']}, errors {len(r['errors'])}"
        ),
    )
    if result["errors"]:
        raise SystemExit(1)


def cmd_audit(args: argparse.Namespace) -> None:
    from hitl_runtime import audit

    runner = _runner()
    if args.target == "verify":
        result = audit.verify(runner.db).as_dict()
        _print(
            args,
            result,
            lambda r: (
                f"audit chain OK: {r['events']} events in {r['streams']} chains"
                if r["ok"]
                else f"audit chain BROKEN at event {r['broken_event']} (chain {r['broken_stream']}): {r['reason']}"
            ),
        )
        if not result["ok"]:
            raise SystemExit(1)
        return
    runner.thread(args.target)
    events = audit.thread_history(runner.db, args.target)
    _print(
        args,
        events,
        lambda rows: "\n".join(
            f"{e['stream_seq']:>3} {e['at']} {e['kind']:<18} {e['actor']:<16} {json.dumps(e['data'], default=str)[:110]}"
            for e in rows
        ),
    )


def cmd_metrics(args: argparse.Namespace) -> None:
    from hitl_runtime import metrics

    result = metrics.compute(_runner().db, since=args.since, until=args.until)
    _print(
        args,
        result,
        lambda r: "\n".join(f"{k}: {v}" for k, v in r.items() if k not in ("per_agent", "per_action", "calibration")),
    )


def cmd_incident(args: argparse.Namespace) -> None:
    from hitl_runtime import metrics
    from hitl_runtime.users import get_user

    runner = _runner()
    get_user(runner.db, args.reviewer)
    result = metrics.report_incident(runner.db, args.action_id, args.reviewer, args.description)
    _print(args, result, lambda r: f"incident {r['id']} recorded on action {r['action_id']}")


def cmd_eval(args: argparse.Namespace) -> None:
    from hitl_runtime.agents import agent_module
    from hitl_runtime.evaluation import evaluate, load_scenarios

    agent_module(args.agent)
    cases = load_scenarios(Path(args.dataset), args.agent)
    result = evaluate(args.agent, cases)
    _print(
        args,
        result,
        lambda r: (
            f"{r['agent']}: n={r['n']} route_accuracy={r['route_accuracy']} "
            f"false_auto={r['false_auto']} automation_rate={r['automation_rate']} mistakes={r['mistakes']}"
        ),
    )


def cmd_soak(args: argparse.Namespace) -> None:
    from hitl_runtime.settings import Settings
    from hitl_runtime.soak import run_soak

    report = run_soak(
        Settings().database_url,
        threads=args.threads,
        seconds=args.seconds,
        starters=args.workers,
        deciders=args.deciders,
        restart_db=not args.no_restart,
    )
    _print(
        args,
        report.as_dict(),
        lambda r: (
            "  ".join(f"{k}={v}" for k, v in r.items() if k != "violation_details")
            + "".join(f"\n  violation: {v}" for v in r["violation_details"])
        ),
    )
    if report.violations:
        raise SystemExit(1)


def cmd_users_add(args: argparse.Namespace) -> None:
    from hitl_runtime.users import add_user

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    user = add_user(_runner().db, args.name, args.role, password=password)
    _print(args, {"name": user.name, "roles": list(user.roles)}, lambda u: f"user {u['name']}: {', '.join(u['roles'])}")


def cmd_users_list(args: argparse.Namespace) -> None:
    from hitl_runtime.users import list_users

    users = [{"name": u.name, "roles": list(u.roles)} for u in list_users(_runner().db)]
    _print(args, users, lambda rows: _lines(rows, ["name", "roles"]))


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    from hitl_runtime.schema import SCHEMA_VERSION

    _runner()
    _print(args, {"schema_version": SCHEMA_VERSION}, lambda r: f"schema at version {r['schema_version']}")


def _streamlit(port: int | None) -> None:
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    if not app.exists():
        raise BadInput("the review app is not part of this build (ui/app.py is missing)")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    if port:
        command += ["--server.port", str(port)]
    raise SystemExit(subprocess.call(command, env=os.environ.copy()))


def cmd_ui(args: argparse.Namespace) -> None:
    _runner()
    _streamlit(args.port)


def cmd_demo(args: argparse.Namespace) -> None:
    from hitl_runtime.demo import seed

    summary = seed(_runner())
    _print(args, summary, lambda s: "\n".join(f"{k}: {v}" for k, v in s.items()))
    if not args.seed_only:
        _streamlit(args.port)


# -- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = _Parser(prog="hitl", description="Human-in-the-loop workflows for AI agents.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, handler: Handler, help_text: str, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON document")
        return p

    p = command("run", cmd_run, "Start a request on an agent; runs until it completes or pauses.")
    p.add_argument("agent")
    p.add_argument("message")
    p.add_argument("--thread")
    p.add_argument("--user")
    p.add_argument("--context", help="JSON object of facts for the simulated systems")

    p = command("reply", cmd_reply, "Answer the agent's question on a thread (as its requester).")
    p.add_argument("thread_id")
    p.add_argument("message")
    p.add_argument("--user", help="the requester answering (checked against the thread)")

    p = command("reviews", cmd_reviews, "List reviews (the inbox).")
    p.add_argument("--status", default="pending")
    p.add_argument("--role")
    p.add_argument("--agent")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--sort", default="deadline")
    p.add_argument("--include-questions", action="store_true", help="also list questions waiting on requesters")

    p = command("show", cmd_show, "Everything a reviewer sees for one review.")
    p.add_argument("review_id")

    p = command("decide", cmd_decide, "Decide a review: approve, edit, reject, request-info or escalate.")
    p.add_argument("review_id")
    p.add_argument("decision")
    p.add_argument("--as", dest="reviewer", required=True)
    p.add_argument("--args", help="edited arguments, a JSON object (edit only)")
    p.add_argument("--comment")
    p.add_argument("--category", help="reason category for edits and rejections")
    p.add_argument("--expect-hash", help="refuse unless the review's payload hash is still this one")

    p = command("actions", cmd_actions, "Executed actions from the ledger.")
    p.add_argument("--thread")
    p.add_argument("--limit", type=int, default=500)

    p = command("rollback", cmd_rollback, "Undo an executed action.")
    p.add_argument("action_id")
    p.add_argument("--as", dest="reviewer", required=True)

    command("sweep", cmd_sweep, "Expire overdue reviews, finish unapplied decisions, send due replies.")

    p = command("audit", cmd_audit, "A thread's audit history, or `audit verify` for the whole chain.")
    p.add_argument("target", metavar="THREAD_ID|verify")

    p = command("metrics", cmd_metrics, "Review and automation metrics.")
    p.add_argument("--since")
    p.add_argument("--until")

    p = command("incident", cmd_incident, "Report that an executed action caused a problem.")
    p.add_argument("action_id")
    p.add_argument("--as", dest="reviewer", required=True)
    p.add_argument("--description", required=True)

    p = command("eval", cmd_eval, "Evaluate an agent's routing on a scenario file.")
    p.add_argument("agent")
    p.add_argument("--dataset", required=True)

    p = command(
        "soak", cmd_soak, "Fault and load harness: kills, pauses, a database restart; then checks the promises."
    )
    p.add_argument("--threads", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=300.0, help="time budget (chaos for the first 60%%)")
    p.add_argument("--workers", type=int, default=3, help="processes starting threads")
    p.add_argument("--deciders", type=int, default=3, help="processes racing to decide")
    p.add_argument("--no-restart", action="store_true", help="do not restart the local PostgreSQL")

    users = sub.add_parser("users", help="Manage accounts.")
    users_sub = users.add_subparsers(dest="users_command", required=True, parser_class=_Parser)
    p = users_sub.add_parser("add", help="Create or update an account.")
    p.set_defaults(handler=cmd_users_add)
    p.add_argument("name")
    p.add_argument("--role", action="append", default=[], required=True)
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--json", action="store_true")
    p = users_sub.add_parser("list", help="List accounts.")
    p.set_defaults(handler=cmd_users_list)
    p.add_argument("--json", action="store_true")

    db = sub.add_parser("db", help="Database administration.")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    p = db_sub.add_parser("upgrade", help="Create or upgrade the schema.")
    p.set_defaults(handler=cmd_db_upgrade)
    p.add_argument("--json", action="store_true")

    p = command("ui", cmd_ui, "Start the Streamlit review app.", json_flag=False)
    p.add_argument("--port", type=int)
    p = command("demo", cmd_demo, "Seed demo data, then start the app.")
    p.add_argument("--port", type=int)
    p.add_argument("--seed-only", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    import logging

    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # failures reach the user as one line instead
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, exit 2) and --help (exit 0)
        return int(exc.code or 0)
    try:
        args.handler(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    except HitlError as exc:
        print(f"hitl: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an unexpected failure: still one line, exit 1
        print(
            f"hitl: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
