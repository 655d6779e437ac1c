"""`hitl`: the operator's command line (DESIGN.md's contract).

Exit codes: 0 success, 1 runtime failure, 2 bad input; errors are one line on stderr. Every
command with `--json` prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeAlias

from hitl_core.errors import BadInput, HitlError, Unavailable
from hitl_core.settings import Settings
from hitl_core.strict_msgpack import enable_strict_msgpack

Handler = Callable[[argparse.Namespace], Any]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"hitl: {message}", file=sys.stderr)
        raise SystemExit(2)


def _runner(args: argparse.Namespace) -> Any:
    from hitl_runtime.runner import Runner

    return Runner(args.settings)


def _store(args: argparse.Namespace) -> Any:
    """The database alone, for commands that run no agent: no graph and no LangChain is loaded."""
    from hitl_runtime.store import open_store

    return open_store(args.settings)


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
    from hitl_core.limits import check_value, parse_json_object

    check_value(args.message, "message")
    context = parse_json_object(args.context, "--context") if args.context else None
    result = _runner(args).run(args.agent, args.message, thread_id=args.thread, user=args.user, context=context)
    _print(args, result.as_dict(), _run_text)
    if result.status == "failed":
        raise SystemExit(1)


def cmd_reply(args: argparse.Namespace) -> None:
    from hitl_core.limits import check_value

    check_value(args.message, "answer")
    result = _runner(args).reply(args.thread_id, args.message, user=args.user)
    _print(args, result.as_dict(), _run_text)


def cmd_reviews(args: argparse.Namespace) -> None:
    from hitl_core import reviews

    rows = reviews.inbox(
        _store(args).db,
        status=args.status,
        role=args.role,
        agent=args.agent,
        limit=args.limit,
        offset=args.offset,
        sort=args.sort,
        kind=None if args.include_questions else "review",
        search=args.search,
    )
    _print(
        args,
        rows,
        lambda r: _lines(
            r, ["id", "agent", "action", "amount", "risk", "confidence", "status", "tier_name", "deadline", "thread_id"]
        ),
    )


def cmd_show(args: argparse.Namespace) -> None:
    from hitl_core import reviews

    review = reviews.with_context(_store(args).db, args.review_id)

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
            f"risk {_cell(r['risk'])}  confidence {_cell(r['confidence'])}"
            + (
                f" (calibrated, {payload['calibration']['method']}; raw {_cell(payload.get('confidence_raw'))})"
                if payload.get("calibration")
                else ""
            )
            + f"  route {r['route']}",
            "reasons: " + "; ".join(r["reasons"]),
        ]
        out += [
            f"  revised draft {i + 1}: {', '.join(c['id'] for c in rev.get('failed', []))}: {str(rev.get('draft'))[:100]!r}"
            for i, rev in enumerate(payload.get("revisions") or [])
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


def _proven_identity(store: Any, claimed: str | None, password_stdin: bool) -> tuple[str | None, str]:
    """Who the caller proved to be, and the channel to record.

    An API token (`HITL_TOKEN`), a password on stdin, or nothing (`cli`: the trusted host's
    operator, as DESIGN's contract allows). `store` is a `Store` or a `Runner`: its `db` and `settings`.
    """
    from hitl_core import tokens
    from hitl_core.errors import Forbidden
    from hitl_core.users import authenticate

    token = store.settings.token
    if token:
        user = tokens.authenticate(store.db, token)
        if claimed is not None and claimed != user.name:
            raise Forbidden(f"HITL_TOKEN belongs to {user.name}, not {claimed}")
        return user.name, "cli+token"
    if password_stdin:
        if not claimed:
            raise BadInput("--password-stdin needs --as NAME")
        account = authenticate(store.db, claimed, sys.stdin.readline().rstrip("\n"))
        if account is None:
            raise Forbidden(f"wrong password for {claimed}")
        return account.name, "cli+password"
    return None, "cli"


def _admin_or_bootstrap(store: Any, what: str) -> str:
    """Account administration needs an admin's token, except before the first admin exists."""
    from hitl_core import tokens
    from hitl_core.errors import Forbidden

    if not tokens.has_admin(store.db) and not store.settings.token:
        return "bootstrap"
    name, _ = _proven_identity(store, None, False)
    if name is None:
        raise Forbidden(f"{what} needs an admin's credentials: set HITL_TOKEN to an admin's API token")
    if "admin" not in _user_roles(store, name):
        raise Forbidden(f"{name} is not an admin; {what} needs an admin's credentials")
    return name


def _user_roles(store: Any, name: str) -> tuple[str, ...]:
    from hitl_core.users import get_user

    return tuple(get_user(store.db, name).roles)


def cmd_decide(args: argparse.Namespace) -> None:
    from hitl_core.limits import check_value, parse_json_object

    if args.comment is not None:
        check_value(args.comment, "comment")
    edited = parse_json_object(args.args, "--args") if args.args is not None else None
    runner = _runner(args)
    proven, channel = _proven_identity(runner, args.reviewer, args.password_stdin)
    result = runner.decide(
        args.review_id,
        args.decision,
        proven or args.reviewer,
        args=edited,
        comment=args.comment,
        category=args.category,
        seen_hash=args.expect_hash,
        channel=channel,
        authenticated=proven is not None,
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
    from hitl_core import ledger

    rows = ledger.list_entries(_store(args).db, thread_id=args.thread, limit=args.limit)
    _print(args, rows, lambda r: _lines(r, ["id", "thread_id", "name", "args", "status", "idempotency_key"]))


def cmd_rollback(args: argparse.Namespace) -> None:
    result = _runner(args).rollback(args.action_id, args.reviewer)
    _print(args, result, lambda r: f"action {r['id']} ({r['name']}): {r['status']} by {r['rolled_back_by']}")


def cmd_sweep(args: argparse.Namespace) -> None:
    result = _runner(args).sweep()
    _print(
        args,
        result,
        lambda r: (
            f"expired {len(r['expired'])}, resumed {len(r['resumed'])}, sent {r['sent']}, errors {len(r['errors'])}"
        ),
    )
    if result["errors"]:
        raise SystemExit(1)


def cmd_worker(args: argparse.Namespace) -> None:
    from hitl_runtime import notifications, worker

    runner = _runner(args)
    notifications.channels(runner.settings)  # a bad HITL_NOTIFY_URLS stops here, in one line, not in every tick
    if not args.once:
        worker.serve(runner, concurrency=args.concurrency)
        return
    summary = worker.run_once(runner, concurrency=args.concurrency)
    _print(args, summary, lambda s: f"ran {', '.join(s['steps'])} and the due jobs ({s['backend']})")
    if any(isinstance(r, dict) and "error" in r for r in summary["steps"].values()):
        raise SystemExit(1)  # a step failed (its one line is in the summary and the log)


def cmd_job(args: argparse.Namespace) -> None:
    from hitl_runtime import jobs

    job = jobs.status(_runner(args), args.job_id)
    _print(
        args,
        job,
        lambda j: (
            f"{j['job_id']} {j['kind']} {j['status']} thread {j['thread_id']}"
            + (f": {j['error']}" if j["error"] else "")
        ),
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 64, got {text!r}")
    return value


def cmd_retention_apply(args: argparse.Namespace) -> None:
    from hitl_core import retention

    runner = _runner(args)
    result = retention.apply(
        runner.db,
        runner.checkpointer,
        lambda agent: runner.policy(agent).retention_days,
        lease_seconds=runner.settings.lease_seconds,
    )
    _print(
        args,
        result,
        lambda r: (
            f"purged {len(r['threads'])} threads, busy {len(r['busy'])}, errors {len(r['errors'])}"
            + "".join(f"\n{e}" for e in r["errors"])
        ),
    )
    if result["errors"]:
        raise SystemExit(1)


def cmd_forget(args: argparse.Namespace) -> None:
    from hitl_runtime import erasure

    subject = erasure.validate_subject(args.subject)  # bad input is refused before anything else
    runner = _runner(args)
    name = _admin(runner, args, "erasure")
    report = erasure.forget(
        runner.db, runner.thread_checkpoints, subject, actor=name, lease_seconds=runner.settings.lease_seconds
    )
    _print(
        args,
        report,
        lambda r: (
            f"erased: {len(r['threads'])} threads (checkpoints deleted), {r['events']} audit events redacted, "
            f"{sum(r['tables'].values())} rows in {len(r['tables'])} tables; audit event {r['audit_event']}"
        ),
    )


def _admin(store: Any, args: argparse.Namespace, what: str) -> str:
    """An admin who proved who they are (HITL_TOKEN, or --as NAME --password-stdin), as erasure asks."""
    from hitl_core.errors import Forbidden

    name, _ = _proven_identity(store, getattr(args, "admin", None), getattr(args, "password_stdin", False))
    if name is None:
        raise Forbidden(f"{what} needs an admin's credentials: set HITL_TOKEN, or --as NAME --password-stdin")
    if "admin" not in _user_roles(store, name):
        raise Forbidden(f"{name} is not an admin; {what} needs an admin's credentials")
    return name


def _notification_lines(rows: list[dict[str, Any]]) -> str:
    return _lines(
        [r | {"recipient": ",".join(r["recipient"])} for r in rows],
        ["id", "event", "status", "attempts", "review_id", "recipient", "next_attempt_at", "last_error"],
    )


def cmd_notifications(args: argparse.Namespace) -> None:
    from hitl_runtime import notifications

    runner = _runner(args)
    _admin(runner, args, "reading the notifications outbox")
    rows = notifications.listing(runner, status=args.status, limit=args.limit)
    _print(args, rows, _notification_lines)


def cmd_notifications_deliver(args: argparse.Namespace) -> None:
    from hitl_runtime import notifications

    runner = _runner(args)
    _admin(runner, args, "delivering notifications")
    report = notifications.deliver_due(runner, runner.settings)
    _print(
        args,
        report,
        lambda r: (
            f"sent {r['sent']}, retried {r['retried']}, dead {r['dead']}, skipped {r['skipped']}, "
            f"deadline warnings {r['deadline_warnings']}" + "".join(f"\n{e['id']}: {e['error']}" for e in r["errors"])
        ),
    )


def cmd_notifications_receive(args: argparse.Namespace) -> None:
    if not 1 <= args.port <= 65535:
        raise BadInput(f"--port {args.port} is not a port (1-65535)")
    from hitl_lab import receiver

    secret = args.settings.webhook_secret
    try:
        server = receiver.make_server(secret, args.port, args.host, emit=receiver.printer(args.json))
    except OSError as exc:
        raise Unavailable(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    note = "" if secret else " (HITL_WEBHOOK_SECRET is not set: every request is refused as unverified)"
    print(f"hitl: receiving webhooks on http://{args.host}:{server.server_port}/{note}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def cmd_notifications_retry(args: argparse.Namespace) -> None:
    from hitl_runtime import notifications

    runner = _runner(args)
    _admin(runner, args, "retrying a notification")
    row = notifications.retry(runner, args.notification_id)
    _print(args, row, lambda r: f"notification {r['id']} ({r['event']}): pending again, due {r['next_attempt_at']}")


def cmd_audit(args: argparse.Namespace) -> None:
    from hitl_core import audit, threads

    store = _store(args)
    if args.target == "verify":
        result = audit.verify(store.db).as_dict()
        _print(
            args,
            result,
            lambda r: (
                f"audit chain OK: {r['events']} events in {r['streams']} chains, "
                + (
                    f"checked against checkpoint {r['checkpoint']} ({r['checkpoint_hash']})"
                    if r["checkpoint"]
                    else "no checkpoint yet"
                )
                if r["ok"]
                else f"audit chain BROKEN at event {r['broken_event']} (chain {r['broken_stream']}): {r['reason']}"
            ),
        )
        if not result["ok"]:
            raise SystemExit(1)
        return
    if args.target == "checkpoint":
        made = audit.checkpoint(store.db).as_dict()
        _print(
            args,
            made,
            lambda r: (
                f"audit checkpoint {r['seq']} ({'new' if r['created'] else 'unchanged'}): {r['events']} events in "
                f"{r['streams']} chains, registry at {r['registry_seq']}; hash {r['hash']}"
                if r["ok"]
                else f"audit checkpoint REFUSED (chain {r['broken_stream']}): {r['reason']}"
            ),
        )
        if not made["ok"]:
            raise SystemExit(1)
        return
    threads.get(store.db, args.target)
    events = audit.thread_history(store.db, args.target)
    _print(
        args,
        events,
        lambda rows: "\n".join(
            f"{e['stream_seq']:>3} {e['at']} {e['kind']:<18} {e['actor']:<16} {json.dumps(e['data'], default=str)[:110]}"
            for e in rows
        ),
    )


def cmd_metrics(args: argparse.Namespace) -> None:
    from hitl_core import metrics

    result = metrics.compute(_store(args).db, since=args.since, until=args.until, agent=args.agent, action=args.action)
    _print(args, result, _metrics_text)


def _metrics_text(r: dict[str, Any]) -> str:
    from hitl_runtime.metrics_view import duration_text

    skip = ("per_agent", "per_action", "calibration", "series")
    lines = [_metrics_line(k, v) for k, v in r.items() if k not in skip]
    calibration = r.get("calibration") or {}
    lines.append(
        f"calibration: brier {calibration.get('brier')}, ece {calibration.get('ece')}, n {calibration.get('n')}"
    )
    for group in ("per_agent", "per_action"):
        for name, s in r[group].items():
            lines.append(
                f"{group.removeprefix('per_')} {name}: reviews {s['reviews']}, approval {s['approval_rate']}, "
                f"edit {s['edit_rate']}, rejection {s['rejection_rate']}, dismissal {s['dismissal_rate']}, "
                f"escalation {s['escalation_rate']}, "
                f"false approval {s['false_approval_rate']}, auto share {s['auto_share']}, "
                f"time to review median {duration_text((s.get('time_to_review') or {}).get('median_s'))}"
            )
    lines += [
        f"day {d['date']}: reviews {d['reviews']}, approval {d['approval_rate']}, automated {d['automated_actions']}"
        for d in r.get("series", [])
    ]
    return "\n".join(lines)


def _metrics_line(key: str, value: Any) -> str:
    """One overall figure; times to review in readable units (the JSON keeps the seconds)."""
    from hitl_runtime.metrics_view import duration_text

    if key == "time_to_review":
        waits = value or {}
        return (
            f"time_to_review: median {duration_text(waits.get('median_s'))}, "
            f"90th percentile {duration_text(waits.get('p90_s'))}"
        )
    return f"{key}: {value}"


def cmd_incident(args: argparse.Namespace) -> None:
    from hitl_core import metrics
    from hitl_core.users import get_user

    store = _store(args)
    get_user(store.db, args.reviewer)
    result = metrics.report_incident(store.db, args.action_id, args.reviewer, args.description)
    _print(args, result, lambda r: f"incident {r['id']} recorded on action {r['action_id']}")


def cmd_agents(args: argparse.Namespace) -> None:
    from hitl_runtime.agents import agent_module, available_agents, examples
    from hitl_runtime.models import model_info

    runner = _runner(args)
    model = model_info(runner.settings)
    rows = []
    for name in available_agents():
        policy = runner.policy(name)
        module = agent_module(name)
        roles = sorted(policy.roles())
        own_file = getattr(module, "POLICY_FILE", None)
        rows.append(
            {
                "name": name,
                "source": "example" if name in examples() else "plugin",
                "module": getattr(module, "__name__", type(module).__name__),
                "actions": sorted(policy.actions),
                "policy_file": str(own_file) if own_file else f"{name}.yaml in the policy folder",
                "roles": roles,
                "model": model,
            }
        )
    _print(args, rows, lambda r: _lines(r, ["name", "source", "actions", "roles", "policy_file"]))


def cmd_eval(args: argparse.Namespace) -> None:
    from guardrails.scorers import SCORERS
    from hitl_runtime.agents import agent_module
    from hitl_runtime.evaluation import evaluate, load_scenarios

    agent_module(args.agent)
    cases = []
    for dataset in args.dataset:
        cases += load_scenarios(Path(dataset), args.agent)
    repeated = sorted({c.id for c in cases if sum(1 for o in cases if o.id == c.id) > 1})
    if repeated:
        raise BadInput(f"the same case id in more than one dataset: {', '.join(repeated[:5])}")
    paraphrases = load_scenarios(Path(args.paraphrases), args.agent) if args.paraphrases else None
    result = evaluate(args.agent, cases, settings=args.settings, grader=args.grader, paraphrases=paraphrases)

    def text(r: dict[str, Any]) -> str:
        lines = []
        for key, label in (("draft_scores", "drafts (offline)"), ("draft_scores_model", "drafts (model-graded)")):
            if r.get(key):
                scores = " ".join(f"{name}={r[key][name]}" for name in SCORERS)
                lines.append(f"{label}: n={r[key]['n']} {scores}")
        lines.append("confusion (expected: actual): " + json.dumps(r["confusion"]))
        if "paraphrases" in r:
            p = r["paraphrases"]
            lines.append(
                f"paraphrases: n={p['n']} route_accuracy={p.get('route_accuracy')} false_auto={p.get('false_auto')} "
                f"automation_rate={p.get('automation_rate')} agreement={p['agreeing']}/{p['cases']} cases"
            )
        # The routing line stays last: scripts read it.
        agreement = f" paraphrase_agreement={r['paraphrase_agreement']}" if "paraphrase_agreement" in r else ""
        lines.append(
            f"{r['agent']}: n={r['n']} route_accuracy={r['route_accuracy']} "
            f"false_auto={r['false_auto']} automation_rate={r['automation_rate']}{agreement} mistakes={r['mistakes']}"
        )
        return "\n".join(lines)

    _print(args, result, text)


def cmd_eval_sets(args: argparse.Namespace) -> None:
    from hitl_runtime.evaluation_sets import as_table, evaluate_sets

    if args.jobs is not None and args.jobs < 1:
        raise BadInput("--jobs must be at least 1")
    _print(args, evaluate_sets(Path(args.manifest), args.agent, args.jobs, args.settings), as_table)


def cmd_serve(args: argparse.Namespace) -> None:
    if args.port is not None and not 1 <= args.port <= 65535:
        raise BadInput(f"--port {args.port} is not a port (1-65535)")
    from hitl_api.server import serve

    serve(args.settings, host=args.host, port=args.port)


def cmd_bench(args: argparse.Namespace) -> None:
    from hitl_lab.bench import Measurement, render, run

    def progress(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    measure_app: Measurement | None = None
    if args.ui or args.only == "ui":  # the review app in Chromium builds on the benchmark's fixtures
        from hitl_lab.bench_ui import bench_app

        measure_app = bench_app
    report = run(
        args.settings,
        profile="smoke" if args.smoke else "quick" if args.quick else "full",
        log=None if args.json else progress,
        only=args.only,
        measure_app=measure_app,
    )
    _print(args, report, render)


def cmd_soak(args: argparse.Namespace) -> None:
    from hitl_lab.soak import run_soak

    report = run_soak(
        args.settings.database_url,
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


def cmd_calibrate(args: argparse.Namespace) -> None:
    from hitl_lab.calibrate import calibrate

    runner = _runner(args) if args.decisions else None
    result = calibrate(
        args.agent,
        [Path(p) for p in args.dataset],
        db=runner.db if runner else None,
        method=args.method,
        holdout=[Path(p) for p in args.holdout],
        write=args.write,
        output=Path(args.output or args.settings.calibration_dir)
        if args.output or args.settings.calibration_dir
        else None,
    )

    def text(r: dict[str, Any]) -> str:
        lines = [
            f"{r['agent']}: {r['method']} calibration on {r['before']['n']} labelled outcomes "
            f"({', '.join(f'{k} {v}' for k, v in r['sources'].items())})",
            f"  before (raw):           brier {r['before']['brier']}  ece {r['before']['ece']}",
            f"  after (in sample):      brier {r['after']['brier']}  ece {r['after']['ece']}",
            f"  after (5-fold held out): brier {r['after_cv']['brier']}  ece {r['after_cv']['ece']}",
        ]
        for h in r.get("holdout", []):
            lines.append(
                f"  holdout {Path(h['dataset']).name}: brier {h['before']['brier']} -> {h['after']['brier']}, "
                f"ece {h['before']['ece']} -> {h['after']['ece']} (n={h['before']['n']})"
            )
        th = r["thresholds"]
        lines.append(
            f"  thresholds on the calibrated scale: auto_min_confidence {th['auto_min_confidence']}, "
            f"review_min_confidence {th['review_min_confidence']}"
        )
        lines.append(f"  written to {r['written']}" if r.get("written") else "  (not written; add --write)")
        return "\n".join(lines)

    _print(args, result, text)


def cmd_guardrails_corpus(args: argparse.Namespace) -> None:
    from guardrails.corpus import corpus_text, evaluate_corpus

    _print(args, evaluate_corpus(), corpus_text)


def cmd_guardrails_screen(args: argparse.Namespace) -> None:
    from guardrails.input_checks import injection_evidence, screen
    from guardrails.output_checks import check_draft

    screening = screen(args.text)
    result = {
        **screening.as_dict(),
        "injection_evidence": injection_evidence(args.text),
        "draft_checks": [c.as_dict() for c in check_draft(args.text)],
    }

    def text(r: dict[str, Any]) -> str:
        lines = [f"redacted: {r['redacted']}", f"injection: {', '.join(r['injection']) or 'none'}"]
        lines += [f"  {k}: {v!r}" for k, v in r["injection_evidence"].items()]
        lines.append(f"personal data: {r['pii'] or 'none'} (regulated: {', '.join(r['regulated']) or 'none'})")
        lines += [f"draft check {c['id']}: FAIL ({c['detail']})" for c in r["draft_checks"] if not c["passed"]]
        return "\n".join(lines)

    _print(args, result, text)


def _lesson_text(lesson: dict[str, Any]) -> str:
    line = f"{lesson['id']} [{lesson['agent']}] {lesson['status']} {lesson['kind']}: {lesson['text']}"
    if lesson.get("rule"):
        rule = lesson["rule"]
        line += f"\n  rule: {rule['fact']} {rule['op']} {rule.get('value')!r} -> {rule['outcome']} ({rule['rule']})"
    evaluation = lesson.get("evaluation")
    if evaluation:
        for d in evaluation["datasets"]:
            b, a = d["before"], d["after"]
            line += (
                f"\n  {Path(d['dataset']).name}: route_accuracy {b['route_accuracy']} -> {a['route_accuracy']}, "
                f"false_auto {b['false_auto']} -> {a['false_auto']} {'ok' if d['ok'] else 'REGRESSION'}"
            )
    return line


def cmd_lessons_propose(args: argparse.Namespace) -> None:
    from hitl_core.limits import parse_json_object
    from hitl_runtime import lessons

    db = _runner(args).db
    if args.text:
        rule = parse_json_object(args.rule, "--rule") if args.rule else None
        made = [lessons.propose(db, args.agent, args.reviewer, args.text, rule=rule, feedback_ids=args.feedback)]
    else:
        if args.rule or args.feedback:
            raise BadInput("--rule and --feedback go with --text")
        made = lessons.propose_from_feedback(db, args.agent, args.reviewer, min_count=args.min_count)
    _print(args, made, lambda rows: "\n".join(_lesson_text(r) for r in rows) or "(no feedback group is large enough)")


def cmd_lessons_list(args: argparse.Namespace) -> None:
    from hitl_runtime import lessons

    rows = lessons.list_lessons(_runner(args).db, status=args.status, agent=args.agent)
    _print(args, rows, lambda r: "\n".join(_lesson_text(x) for x in r) or "(none)")


def cmd_lessons_show(args: argparse.Namespace) -> None:
    from hitl_runtime import lessons

    _print(args, lessons.get(_runner(args).db, args.lesson_id), _lesson_text)


def cmd_lessons_accept(args: argparse.Namespace) -> None:
    from hitl_runtime import lessons

    datasets = [Path(p) for p in args.dataset] or None
    result = lessons.accept(
        _runner(args).db, args.lesson_id, args.reviewer, datasets=datasets, comment=args.comment, settings=args.settings
    )
    _print(args, result, _lesson_text)


def cmd_lessons_reject(args: argparse.Namespace) -> None:
    from hitl_runtime import lessons

    _print(args, lessons.reject(_runner(args).db, args.lesson_id, args.reviewer, args.comment), _lesson_text)


def cmd_lessons_retire(args: argparse.Namespace) -> None:
    from hitl_runtime import lessons

    _print(args, lessons.retire(_runner(args).db, args.lesson_id, args.reviewer, args.comment), _lesson_text)


def cmd_users_add(args: argparse.Namespace) -> None:
    from hitl_core.users import add_user, validate_account
    from hitl_runtime.agents import known_roles

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    validate_account(args.name, args.role, password, known_roles())  # bad input is refused before anything else
    store = _store(args)
    actor = _admin_or_bootstrap(store, "creating or changing accounts")
    user = add_user(store.db, args.name, args.role, password=password, actor=actor)
    _print(args, {"name": user.name, "roles": list(user.roles)}, lambda u: f"user {u['name']}: {', '.join(u['roles'])}")


def cmd_users_list(args: argparse.Namespace) -> None:
    from hitl_core.users import list_users

    users = [{"name": u.name, "roles": list(u.roles)} for u in list_users(_store(args).db)]
    _print(args, users, lambda rows: _lines(rows, ["name", "roles"]))


def cmd_tokens_create(args: argparse.Namespace) -> None:
    from hitl_core import tokens

    store = _store(args)
    if args.password_stdin:
        proven, _ = _proven_identity(store, args.name, True)
        actor = proven or args.name
    else:
        actor = _admin_or_bootstrap(store, f"creating a token for {args.name}")
    created = tokens.create(store.db, args.name, label=args.label, actor=actor)
    _print(args, created, lambda c: f"token {c['id']} for {c['user']} (shown once, keep it secret):\n{c['token']}")


def cmd_tokens_list(args: argparse.Namespace) -> None:
    from hitl_core import tokens

    store = _store(args)
    _admin_or_bootstrap(store, "listing tokens")
    rows = tokens.list_tokens(store.db, args.user)
    _print(args, rows, lambda r: _lines(r, ["id", "user", "label", "created_at", "last_used_at", "revoked_at"]))


def cmd_tokens_revoke(args: argparse.Namespace) -> None:
    from hitl_core import tokens

    store = _store(args)
    actor = _admin_or_bootstrap(store, "revoking a token")
    revoked = tokens.revoke(store.db, args.token_id, actor=actor)
    _print(args, revoked, lambda r: f"token {r['id']} of {r['user']} revoked at {r['revoked_at']}")


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    from hitl_core.schema import SCHEMA_VERSION

    _store(args)
    _print(args, {"schema_version": SCHEMA_VERSION}, lambda r: f"schema at version {r['schema_version']}")


def _streamlit(port: int | None, address: str | None = None, *, demo: bool = False) -> None:
    # It listens on 127.0.0.1 (ui/.streamlit/config.toml) unless --address says otherwise.
    from hitl_runtime.app_command import APP, app_command, serve_app

    if not APP.exists():
        raise BadInput("the review app is not part of this build (ui/server.py is missing)")
    command = app_command(port, address)
    # A subprocess boundary: the app reads its settings from this environment at its own edge.
    env = dict(os.environ) | ({"HITL_DEMO": "1"} if demo else {})
    raise SystemExit(serve_app(command, env))


def _background_worker(runner: Any) -> None:
    # On SQLite there is no worker process: this one runs the sweep and queued jobs while the app serves.
    if runner.db.dialect == "sqlite":
        from hitl_runtime.worker import InProcessWorker

        InProcessWorker(runner).start()


def cmd_ui(args: argparse.Namespace) -> None:
    _background_worker(_runner(args))
    _streamlit(args.port, args.address)


def cmd_demo(args: argparse.Namespace) -> None:
    from hitl_lab.demo import seed

    runner = _runner(args)
    summary = seed(runner)
    _print(args, summary, lambda s: "\n".join(f"{k}: {v}" for k, v in s.items()))
    if not args.seed_only:
        _background_worker(runner)  # reviews left pending expire by themselves at their deadline
        _streamlit(args.port, args.address, demo=True)


# -- parser --------------------------------------------------------------------------------------
_Subcommands: TypeAlias = "argparse._SubParsersAction[_Parser]"
"""What the parser's `add_subparsers()` returns: where a group of commands is added."""


class _AddCommand(Protocol):
    """`build_parser`'s `command`: adds one top-level command with its handler and, by default, --json."""

    def __call__(
        self, name: str, handler: Handler, help_text: str, json_flag: bool = True
    ) -> argparse.ArgumentParser: ...


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree, one group after another (their order is the order --help lists)."""
    parser = _Parser(prog="hitl", description="Human-in-the-loop workflows for AI agents.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, handler: Handler, help_text: str, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON document")
        return p

    _add_thread_commands(command)
    _add_review_commands(command)
    _add_oversight_commands(command)
    _add_evaluation_commands(command)
    _add_guardrails_commands(sub)
    _add_lessons_commands(sub)
    _add_load_commands(command)
    _add_account_commands(sub)
    _add_privacy_commands(sub, command)
    _add_notification_commands(sub)
    _add_db_commands(sub)
    _add_app_commands(command)
    return parser


def _add_thread_commands(command: _AddCommand) -> None:
    """Starting and continuing a request's thread: run, reply."""
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


def _add_review_commands(command: _AddCommand) -> None:
    """The reviewer's work: the inbox, one review, deciding, the ledger and undoing, the sweep."""
    p = command("reviews", cmd_reviews, "List reviews (the inbox).")
    p.add_argument("--status", default="pending")
    p.add_argument("--role")
    p.add_argument("--agent")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--sort", default="deadline")
    p.add_argument("--include-questions", action="store_true", help="also list questions waiting on requesters")
    p.add_argument("--search", help="literal text in the request, the action's arguments or the review id")

    p = command("show", cmd_show, "Everything a reviewer sees for one review.")
    p.add_argument("review_id")

    command("agents", cmd_agents, "Every registered agent: name, actions, policy file, roles, model.")

    p = command("decide", cmd_decide, "Decide a review: approve, edit, reject, request-info, escalate or ignore.")
    p.add_argument("review_id")
    p.add_argument(
        "decision",
        help="approve, edit, reject, request-info, escalate, or ignore (dismiss: only where the policy allows it)",
    )
    p.add_argument("--as", dest="reviewer", required=True)
    p.add_argument("--args", help="edited arguments, a JSON object (edit only)")
    p.add_argument("--comment", help="why; required for request-info (the question) and ignore (the reason)")
    p.add_argument("--category", help="reason category for edits and rejections")
    p.add_argument("--expect-hash", help="refuse unless the review's payload hash is still this one")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="prove you are the reviewer with your password (or set HITL_TOKEN); needed where a policy asks two approvers",
    )

    p = command("actions", cmd_actions, "Executed actions from the ledger.")
    p.add_argument("--thread")
    p.add_argument("--limit", type=int, default=500)

    p = command("rollback", cmd_rollback, "Undo an executed action.")
    p.add_argument("action_id")
    p.add_argument("--as", dest="reviewer", required=True)

    command("sweep", cmd_sweep, "Expire overdue reviews, finish unapplied decisions, send due replies.")

    p = command("worker", cmd_worker, "Run the periodic steps (the sweep) and queued runs, replies and decisions.")
    p.add_argument("--once", action="store_true", help="every periodic step once and every due job, then exit")
    p.add_argument("--concurrency", type=_positive, help="jobs run at once (default HITL_WORKER_CONCURRENCY)")

    p = command("job", cmd_job, "Where a queued run, reply or decision stands (and its result).")
    p.add_argument("job_id")


def _add_oversight_commands(command: _AddCommand) -> None:
    """What oversight reads and reports: the audit trail, metrics, incidents."""
    p = command(
        "audit",
        cmd_audit,
        "A thread's audit history, `audit verify` for every chain, or `audit checkpoint` to sign all chains' heads.",
    )
    p.add_argument("target", metavar="THREAD_ID|verify|checkpoint")

    p = command("metrics", cmd_metrics, "Review and automation metrics (overall, per agent, per action, per day).")
    p.add_argument("--since", help="start of the window: ISO time, date, or a span back from now (7d, 12h)")
    p.add_argument("--until", help="end of the window: ISO time or date (inclusive)")
    p.add_argument("--agent", help="only this agent's reviews and actions")
    p.add_argument("--action", help="only this action")

    p = command("incident", cmd_incident, "Report that an executed action caused a problem.")
    p.add_argument("action_id")
    p.add_argument("--as", dest="reviewer", required=True)
    p.add_argument("--description", required=True)


def _add_evaluation_commands(command: _AddCommand) -> None:
    """Measuring an agent offline: scenario evaluation and confidence calibration."""
    p = command("eval", cmd_eval, "Evaluate an agent's routing and drafts on a scenario file.")
    p.add_argument("agent")
    p.add_argument("--dataset", required=True, action="append", help="scenario file (repeat to evaluate several)")
    p.add_argument(
        "--paraphrases",
        help="scenario file whose cases carry `paraphrase_of`: adds paraphrase_agreement (all paraphrases route like the case)",
    )
    p.add_argument(
        "--grader",
        choices=["offline", "model"],
        default="offline",
        help="draft scorers: offline (deterministic) or model (also ask the configured model; needs OPENAI_API_KEY)",
    )

    p = command("eval-sets", cmd_eval_sets, "Evaluate every scenario set of a manifest; sum the figures by role.")
    p.add_argument("manifest", help="JSON manifest of the sets, their files and roles (tests/scenarios/sets.json)")
    p.add_argument("--agent", action="append", help="only this agent (repeat for several); default: the manifest's")
    p.add_argument("--jobs", type=int, help="runs at once, each in its own process (default: the machine's cores)")

    p = command("calibrate", cmd_calibrate, "Fit confidence calibration on labelled outcomes; report Brier and ECE.")
    p.add_argument("agent")
    p.add_argument("--dataset", action="append", default=[], help="scenario file (label: expected route is auto)")
    p.add_argument("--decisions", action="store_true", help="also use recorded decisions (approved unchanged = 1)")
    p.add_argument("--method", choices=["platt", "isotonic"], default="platt")
    p.add_argument("--holdout", action="append", default=[], help="scenario file scored before/after, not fitted on")
    p.add_argument("--write", action="store_true", help="write the calibration file the agent loads")
    p.add_argument("--output", help="directory for the file (default HITL_CALIBRATION_DIR or guardrails/calibration)")


def _add_guardrails_commands(sub: _Subcommands) -> None:
    """The guardrails group: corpus rates and screening a text."""
    guard = sub.add_parser("guardrails", help="Guardrail tools.")
    guard_sub = guard.add_subparsers(dest="guardrails_command", required=True, parser_class=_Parser)
    p = guard_sub.add_parser("corpus", help="Injection detection and false-positive rates on the shipped corpora.")
    p.set_defaults(handler=cmd_guardrails_corpus)
    p.add_argument("--json", action="store_true")
    p = guard_sub.add_parser("screen", help="What the input and output checks find in a text.")
    p.set_defaults(handler=cmd_guardrails_screen)
    p.add_argument("text")
    p.add_argument("--json", action="store_true")


def _add_lessons_commands(sub: _Subcommands) -> None:
    """The lessons group: proposing, listing and deciding lessons from feedback."""
    lessons = sub.add_parser("lessons", help="Lessons from reviewers' feedback: the queue and the agents' memory.")
    lessons_sub = lessons.add_subparsers(dest="lessons_command", required=True, parser_class=_Parser)
    p = lessons_sub.add_parser("propose", help="Propose lessons from feedback, or one written by hand (--text).")
    p.set_defaults(handler=cmd_lessons_propose)
    p.add_argument("--agent", required=True)
    p.add_argument("--as", dest="reviewer", required=True)
    p.add_argument("--text", help="a hand-written lesson (else: derived from feedback)")
    p.add_argument("--rule", help="JSON rule for the validator: {fact, op, value, outcome, rule, actions}")
    p.add_argument("--feedback", action="append", default=[], help="feedback id the lesson comes from")
    p.add_argument("--min-count", type=int, default=2, help="feedback per (action, category) to propose a lesson")
    p.add_argument("--json", action="store_true")
    p = lessons_sub.add_parser("list", help="The lesson queue and memory.")
    p.set_defaults(handler=cmd_lessons_list)
    p.add_argument("--status", default="all")
    p.add_argument("--agent")
    p.add_argument("--json", action="store_true")
    p = lessons_sub.add_parser("show", help="One lesson with its evaluation.")
    p.set_defaults(handler=cmd_lessons_show)
    p.add_argument("lesson_id")
    p.add_argument("--json", action="store_true")
    for name, handler, help_text in (
        ("accept", cmd_lessons_accept, "Accept a lesson: it is evaluated, and remembered only without regression."),
        ("reject", cmd_lessons_reject, "Reject a proposed lesson."),
        ("retire", cmd_lessons_retire, "Take an active lesson out of the agent's memory."),
    ):
        p = lessons_sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        p.add_argument("lesson_id")
        p.add_argument("--as", dest="reviewer", required=True)
        p.add_argument("--comment")
        p.add_argument("--json", action="store_true")
        if name == "accept":
            p.add_argument("--dataset", action="append", default=[], help="scenario file (default: the agent's sets)")


def _add_load_commands(command: _AddCommand) -> None:
    """Performance and fault harnesses: bench, soak."""
    p = command(
        "bench", cmd_bench, "Benchmark the runtime beside plain LangGraph: cycle, inbox, deciders, storage, HTTP API."
    )
    sizes = p.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="smaller runs, a few minutes")
    sizes.add_argument(
        "--smoke",
        action="store_true",
        help="every measurement and check at the smallest sizes, in about a minute: checks the benchmark runs, "
        "its figures mean little (the test suite's run)",
    )
    p.add_argument(
        "--only",
        choices=["inbox-scale", "cycle", "ui"],
        help="one measurement alone: inbox-scale (the inbox at 1,000,000 pending on PostgreSQL, 100,000 on SQLite); "
        "cycle (the full cycle in threads and in processes); ui (the review app's timings in Chromium)",
    )
    p.add_argument(
        "--ui",
        action="store_true",
        help="add the review app's timings in Chromium at 10,000 pending (--quick: 1,000): app_timings",
    )

    p = command(
        "soak", cmd_soak, "Fault and load harness: kills, pauses, a database restart; then checks the promises."
    )
    p.add_argument("--threads", type=int, default=1000)
    p.add_argument(
        "--seconds",
        type=float,
        default=300.0,
        help="the run's window (chaos for the first 60%%); it runs on, without chaos, until every thread is started",
    )
    p.add_argument("--workers", type=int, default=3, help="processes starting threads")
    p.add_argument("--deciders", type=int, default=3, help="processes racing to decide")
    p.add_argument("--no-restart", action="store_true", help="do not restart the local PostgreSQL")


def _add_account_commands(sub: _Subcommands) -> None:
    """Accounts and the API tokens that prove who an approver is: users, tokens."""
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

    token_parser = sub.add_parser("tokens", help="API tokens: how each approver proves who they are.")
    tokens_sub = token_parser.add_subparsers(dest="tokens_command", required=True, parser_class=_Parser)
    p = tokens_sub.add_parser("create", help="Create a token for an account; printed once, stored hashed.")
    p.set_defaults(handler=cmd_tokens_create)
    p.add_argument("name")
    p.add_argument("--label", default="")
    p.add_argument("--password-stdin", action="store_true", help="prove you are NAME with your password")
    p.add_argument("--json", action="store_true")
    p = tokens_sub.add_parser("list", help="List tokens (never their secret).")
    p.set_defaults(handler=cmd_tokens_list)
    p.add_argument("--user")
    p.add_argument("--json", action="store_true")
    p = tokens_sub.add_parser("revoke", help="Revoke a token.")
    p.set_defaults(handler=cmd_tokens_revoke)
    p.add_argument("token_id")
    p.add_argument("--json", action="store_true")


def _add_privacy_commands(sub: _Subcommands, command: _AddCommand) -> None:
    """Keeping and erasing personal data: retention, forget."""
    retention_parser = sub.add_parser("retention", help="Retention of finished threads (policy: retention_days).")
    retention_sub = retention_parser.add_subparsers(dest="retention_command", required=True, parser_class=_Parser)
    p: argparse.ArgumentParser = retention_sub.add_parser(
        "apply", help="Purge finished threads past retention (hitl sweep does this too)."
    )
    p.set_defaults(handler=cmd_retention_apply)
    p.add_argument("--json", action="store_true")

    p = command("forget", cmd_forget, "Erase a person's data (customer id or email, or requester name); admins only.")
    p.add_argument("subject")
    p.add_argument("--as", dest="admin", help="the admin erasing (with --password-stdin; or set HITL_TOKEN)")
    p.add_argument("--password-stdin", action="store_true", help="prove you are the admin with your password")


def _add_notification_commands(sub: _Subcommands) -> None:
    """The notifications outbox: list it, deliver what is due, retry a dead letter (admins only)."""

    def admin_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON document")
        p.add_argument("--as", dest="admin", help="the admin (with --password-stdin; or set HITL_TOKEN)")
        p.add_argument("--password-stdin", action="store_true", help="prove you are the admin with your password")

    help_text = "The notifications outbox (admins only): list it, `deliver` what is due, `retry ID` a dead letter."
    notify = sub.add_parser("notifications", help=help_text, description=help_text)
    notify.set_defaults(handler=cmd_notifications)
    admin_flags(notify)
    notify.add_argument("--status", choices=["pending", "sent", "dead", "skipped"])
    notify.add_argument("--limit", type=int, default=100)
    notify_sub = notify.add_subparsers(dest="notifications_command", required=False, parser_class=_Parser)
    p = notify_sub.add_parser("deliver", help="Send the notifications that are due now (what the worker does).")
    p.set_defaults(handler=cmd_notifications_deliver)
    admin_flags(p)
    p = notify_sub.add_parser(
        "receive", help="A local webhook receiver that checks signatures and prints each message (for trying it out)."
    )
    p.set_defaults(handler=cmd_notifications_receive)
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--json", action="store_true", help="one JSON document per request")
    p = notify_sub.add_parser("retry", help="Put a dead notification back in the queue.")
    p.set_defaults(handler=cmd_notifications_retry)
    p.add_argument("notification_id")
    admin_flags(p)


def _add_db_commands(sub: _Subcommands) -> None:
    """Database administration: upgrade."""
    db = sub.add_parser("db", help="Database administration.")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    p = db_sub.add_parser("upgrade", help="Create or upgrade the schema.")
    p.set_defaults(handler=cmd_db_upgrade)
    p.add_argument("--json", action="store_true")


def _add_app_commands(command: _AddCommand) -> None:
    """The review app and the HTTP API: ui, serve, and demo (seed data, then the app)."""
    address_help = "the interface to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every one)"
    p = command("ui", cmd_ui, "Start the Streamlit review app.", json_flag=False)
    p.add_argument("--port", type=int)
    p.add_argument("--address", help=address_help)
    p = command(
        "serve", cmd_serve, "Start the HTTP API (uvicorn); bearer tokens from `hitl tokens create`.", json_flag=False
    )
    p.add_argument("--port", type=int, help="the port (default HITL_API_PORT, 8000)")
    p.add_argument("--host", help="the interface (default HITL_API_HOST, 127.0.0.1: this machine only)")
    p = command("demo", cmd_demo, "Seed demo data, then start the app.")
    p.add_argument("--port", type=int)
    p.add_argument("--address", help=address_help)
    p.add_argument("--seed-only", action="store_true")


_ARGUMENT_LABELS = {
    "message": "the message",
    "text": "the text",
    "reviewer": "--as",
    **{
        name: name.upper()
        for name in ("agent", "decision", "name", "review_id", "thread_id", "action_id", "lesson_id", "notification_id")
    },
    "target": "THREAD_ID",
    "subject": "SUBJECT",
    "admin": "--as",
}
"""How an argument is named in an error: positional ones by their metavar, options by their flag."""


def _utf8_arguments(args: argparse.Namespace) -> None:
    """Every text argument as valid UTF-8, or BadInput naming it.

    Python hands bytes that are not UTF-8 to the program as lone surrogates (surrogateescape);
    they cannot be stored or printed, so they are refused here, before anything reads them.
    """
    for name, value in vars(args).items():
        if name == "handler":
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            label = _ARGUMENT_LABELS.get(name, f"--{name.replace('_', '-')}")
            try:
                os.fsencode(item).decode("utf-8")
            except UnicodeError:
                raise BadInput(f"{label} is not valid UTF-8") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    import logging

    enable_strict_msgpack()
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # failures reach the user as one line instead
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, exit 2) and --help (exit 0)
        return int(exc.code or 0)
    try:
        _utf8_arguments(args)
        args.settings = Settings()  # the environment, read once; a bad value stops here, before anything is written
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
