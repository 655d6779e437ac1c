"""`hitl soak`: many processes, racing reviewers, SIGKILL, SIGSTOP and a database restart; then audit.

Worker processes start support threads, decider processes race to decide the same reviews, a
sweeper finishes what crashed processes left behind, and the conductor (this process) kills
children at random (some of them at named crash points inside a decision or an execution),
pauses one past its lease while another takes its thread over, and restarts a local PostgreSQL
once. When the time is up (and every thread has been started) it drains the work and checks the promises: every approved action
executed exactly once, none without its approvals, every review consistent with its thread, no
forked checkpoint chain, an intact audit chain. Violations must be zero.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitl_core import audit, ledger, reviews
from hitl_core.canonical import loads, new_id, value_hash
from hitl_core.db import Database
from hitl_core.errors import BadInput, Conflict, Forbidden, HitlError
from hitl_core.faults import POINTS
from hitl_core.leases import LeaseLost
from hitl_core.reviews import public
from hitl_core.settings import Settings
from hitl_core.users import add_user
from hitl_runtime.agents import prepare
from hitl_runtime.runner import Runner

REVIEWERS = {
    "soak-agent-1": ["support_agent"],
    "soak-agent-2": ["support_agent"],
    "soak-lead-1": ["support_lead"],
    "soak-sre-1": ["sre"],
    "soak-sre-2": ["sre"],
    "soak-oplead-1": ["ops_lead"],
}
OPS_EVERY = 4
"""Every fourth thread is a production restart: irreversible, so two distinct approvers."""
REQUESTER = "soak-customer"
LEASE_SECONDS = "2"
SETTLE_FACTOR = 5
"""The harness gives up on children that have not started every thread by this many times `--seconds`."""


@dataclass
class SoakReport:
    """What `hitl soak` prints."""

    threads: int = 0
    decisions: int = 0
    conflicts_refused: int = 0
    edits_refused: int = 0
    """Decisions the runtime refused as not allowed (retargeting edits, a second approval by one person)."""
    kills: int = 0
    crash_points: int = 0
    restarts: int = 0
    pauses: int = 0
    fenced_writes: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form; `violations` is the count, `violation_details` the reasons."""
        return {
            "threads": self.threads,
            "decisions": self.decisions,
            "conflicts_refused": self.conflicts_refused,
            "edits_refused": self.edits_refused,
            "kills": self.kills,
            "crash_points": self.crash_points,
            "restarts": self.restarts,
            "pauses": self.pauses,
            "fenced_writes": self.fenced_writes,
            "seconds": round(self.seconds, 1),
            "violations": len(self.violations),
            "violation_details": self.violations[:50],
        }


# -- child processes -------------------------------------------------------------------------------
def _child_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    # A subprocess boundary: the children read their settings from this environment at their own edge.
    env = {k: v for k, v in os.environ.items() if k != "HITL_CRASH_AT"}
    env.update(
        {"HITL_DATABASE_URL": database_url, "HITL_LEASE_SECONDS": LEASE_SECONDS, "HITL_RESUME_GRACE_SECONDS": "1"}
    )
    env.update(extra or {})
    return env


def _spawn(
    kind: str, database_url: str, state_dir: Path, index: int, crash_at: str | None = None
) -> subprocess.Popen[bytes]:
    extra = {"HITL_CRASH_AT": crash_at} if crash_at else {}
    return subprocess.Popen(
        [sys.executable, "-m", "hitl_lab.soak", kind, str(state_dir), str(index)],
        env=_child_env(database_url, extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _count(state_dir: Path, name: str, amount: int = 1) -> None:
    with (state_dir / f"{name}.{os.getpid()}").open("a") as out:
        out.write(f"{amount}\n")


def _total(state_dir: Path, name: str) -> int:
    return sum(int(line) for path in state_dir.glob(f"{name}.*") for line in path.read_text().split() if line)


def _running(state_dir: Path) -> bool:
    """Children stop when told to, or when their conductor is gone (its folder removed)."""
    return state_dir.is_dir() and not (state_dir / "stop").exists()


def thread_prefix() -> str:
    """What this soak's thread ids start with: new every run, and card-safe with the numbers appended.

    Digits joined by dashes (a time, a random number, a thread's number) read as a card number
    often enough that the runtime refused every thread id of one soak in three.
    """
    return new_id("soak")


def thread_id_of(prefix: str, number: int) -> str:
    """The id of the soak's `number`-th thread."""
    return f"{prefix}-{number:05d}"


def _starter(state_dir: Path, index: int) -> None:
    """Start this worker's share of the threads; threads already started are skipped."""
    plan = json.loads((state_dir / "plan.json").read_text())
    runner = Runner()
    for number in range(index, plan["threads"], plan["starters"]):
        thread_id = thread_id_of(plan["prefix"], number)
        while _running(state_dir):
            try:
                if runner.db.read("SELECT 1 AS x FROM threads WHERE thread_id = :t", {"t": thread_id}):
                    break
                if number % OPS_EVERY == OPS_EVERY - 1:
                    runner.run(
                        "ops",
                        f"Restart payments-api in production, the connection pool is exhausted (soak {number}).",
                        thread_id=thread_id,
                        user=REQUESTER,
                        context={
                            "service": {"name": "payments-api", "env": "prod", "replicas": 4, "version": "3.2.1"},
                            "incident": {
                                "id": f"inc-soak-{number}",
                                "severity": "sev2",
                                "error_rate": 0.12,
                                "logs": ["ERROR HikariPool-1 - Connection is not available"],
                            },
                        },
                    )
                    break
                amount = 20 + number % 150
                runner.run(
                    "support",
                    f"My kettle arrived broken, can I get my ${amount} back for order o-{number:06d}?",
                    thread_id=thread_id,
                    user=REQUESTER,
                    context={
                        "customer": {
                            "id": f"c-soak-{number}",
                            "name": "Sam Soak",
                            "tier": "standard",
                            "lifetime_value": 90,
                        },
                        "order": {
                            "id": f"o-{number:06d}",
                            "amount": amount,
                            "currency": "USD",
                            "days_since_delivery": 4,
                        },
                    },
                )
                break
            except LeaseLost:
                _count(state_dir, "fenced")
                break
            except BadInput as exc:  # no retry makes a refused request acceptable: say so and go on
                with (state_dir / f"unstarted.{os.getpid()}").open("a") as out:
                    out.write(f"{thread_id}: {exc}\n")
                break
            except HitlError:
                time.sleep(0.2)  # database restarting, thread busy: try again
    (state_dir / f"done.{index}").write_text("1")


def _decider(state_dir: Path, index: int) -> None:
    """Race the other deciders for the first few pending reviews, with mixed decisions."""
    rng = random.Random(index * 7919 + os.getpid())
    names = list(REVIEWERS)
    runner = Runner()
    while _running(state_dir):
        try:
            page = reviews.inbox(runner.db, status="pending", limit=4, sort="oldest")
        except HitlError:
            time.sleep(0.2)
            continue
        if not page:
            time.sleep(0.05)
            continue
        review = rng.choice(page)
        reviewer = rng.choice([n for n in names if set(REVIEWERS[n]) & set(review["required_roles"])] or names)
        kind, args = _soak_decision(rng, review)
        try:
            if kind == "edit":
                runner.decide(review["id"], "edit", reviewer, args=args, category="wrong_amount")
            elif kind == "reject":
                runner.decide(review["id"], "reject", reviewer, comment="soak rejection", category="other")
            else:
                runner.decide(review["id"], "approve", reviewer)
            _count(state_dir, "decisions")
        except Conflict:
            _count(state_dir, "conflicts")
        except Forbidden:
            _count(state_dir, "refused")  # retargeting edits, an approver approving twice
        except LeaseLost:
            _count(state_dir, "fenced")
        except HitlError:
            time.sleep(0.1)


def _soak_decision(rng: random.Random, review: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """A decision from the mix honest reviewers and an attacker make.

    Approvals, narrowing, widening and retargeting edits, rejections.
    """
    roll = rng.random()
    args = review["args"] or {}
    if roll < 0.6:
        return "approve", None
    if roll < 0.85:
        edit = rng.random()
        if review["action"] == "refund":
            if edit < 0.4:
                return "edit", {"amount": max(1.0, float(args["amount"]) - 1)}  # narrowing: covered
            if edit < 0.7:
                return "edit", {"amount": float(args["amount"]) + 200}  # widening: moves up a tier
            return "edit", {"order_id": "o-999999"}  # retargeting: refused
        if edit < 0.6:
            return "edit", {"reason": f"{args.get('reason', '')} (one pod at a time)"[:400]}  # resets approvals
        return "edit", {"service": "checkout-api"}  # retargeting: refused
    return "reject", None


def _sweeper(state_dir: Path, index: int) -> None:

    runner = Runner()
    while _running(state_dir):
        with contextlib.suppress(HitlError):
            runner.sweep()
        time.sleep(0.5)


# -- the conductor ---------------------------------------------------------------------------------
def _restart_local_postgres(database_url: str) -> bool:
    if not database_url.startswith("postgres") or not any(h in database_url for h in ("127.0.0.1", "localhost")):
        return False
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        return False
    version = sorted(os.listdir("/etc/postgresql"))[0]
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], capture_output=True, timeout=120
    )
    return done.returncode == 0


def run_soak(
    database_url: str,
    *,
    threads: int = 1000,
    starters: int = 3,
    deciders: int = 3,
    seconds: float = 300.0,
    restart_db: bool = True,
    seed: int = 7,
) -> SoakReport:
    """Run the harness against `database_url` and check the promises afterwards."""
    import tempfile

    runner = Runner(Settings(database_url=database_url))
    for name, roles in REVIEWERS.items():
        add_user(runner.db, name, roles, actor="soak")
    add_user(runner.db, REQUESTER, ["end_user"], actor="soak")
    prepare(["support", "ops"], runner.settings.policy_dir)  # the children read the example vectors from disk
    rng = random.Random(seed)
    prefix = thread_prefix()
    with tempfile.TemporaryDirectory(prefix="hitl-soak-") as folder:
        conductor = _Conductor(database_url, Path(folder), rng, runner, starters, deciders, seconds, restart_db)
        plan = {"threads": threads, "starters": starters, "prefix": prefix}
        (conductor.state_dir / "plan.json").write_text(json.dumps(plan))
        try:
            conductor.play()
        finally:
            conductor.stop_children()
        report = conductor.report
        report.decisions = _total(conductor.state_dir, "decisions")
        report.conflicts_refused = _total(conductor.state_dir, "conflicts")
        report.edits_refused = _total(conductor.state_dir, "refused")
        report.fenced_writes = _total(conductor.state_dir, "fenced")
        unstarted = [line for path in conductor.state_dir.glob("unstarted.*") for line in path.read_text().splitlines()]
    _drain(runner)
    like = {"p": f"{prefix}-%"}
    report.threads = int(runner.db.read("SELECT COUNT(*) AS n FROM threads WHERE thread_id LIKE :p", like)[0]["n"])
    report.violations = [f"thread not started, the runtime refused it: {line}" for line in unstarted]
    report.violations += check_promises(runner, f"{prefix}-")
    report.seconds = time.monotonic() - conductor.started
    runner.close()
    return report


class _Conductor:
    """Starts the children and makes trouble: kills, crash points, one pause, one restart."""

    def __init__(
        self,
        database_url: str,
        state_dir: Path,
        rng: random.Random,
        runner: Any,
        starters: int,
        deciders: int,
        seconds: float,
        restart_db: bool,
    ) -> None:
        self.database_url, self.state_dir, self.rng, self.runner = database_url, state_dir, rng, runner
        self.starters, self.deciders, self.seconds, self.restart_db = starters, deciders, seconds, restart_db
        self.report = SoakReport()
        self.started = time.monotonic()
        self.children: dict[tuple[str, int], subprocess.Popen[bytes]] = {}

    def spawn(self, kind: str, index: int, crash_at: str | None = None) -> None:
        self.children[(kind, index)] = _spawn(kind, self.database_url, self.state_dir, index, crash_at)
        self.report.crash_points += crash_at is not None

    def play(self) -> None:
        for i in range(self.starters):
            self.spawn("starter", i)
        for i in range(self.deciders):
            self.spawn("decider", i, crash_at=self.rng.choice(POINTS))
        self.spawn("sweeper", 0)
        chaos_until = self.started + self.seconds * 0.6
        restarted = paused = False
        # After the window the children work on in peace until every thread is started (a slow or busy
        # machine must not turn into fewer threads); the bound only stops a harness that is stuck.
        give_up = self.started + self.seconds * SETTLE_FACTOR
        while time.monotonic() < give_up:
            time.sleep(self.rng.uniform(0.5, 1.5))
            elapsed = time.monotonic() - self.started
            self.respawn_the_dead()
            if time.monotonic() < chaos_until:
                self.kill_one()
                if not paused and elapsed > 3:  # early, while starters still have threads in flight
                    paused = self.pause_one_past_its_lease()
                if self.restart_db and not restarted and elapsed > self.seconds * 0.35:
                    self.report.restarts += int(_restart_local_postgres(self.database_url))
                    restarted = True
            elif self.finished() or (elapsed >= self.seconds and self.starters_done()):
                return

    def respawn_the_dead(self) -> None:
        for (kind, index), proc in list(self.children.items()):
            if proc.poll() is None or (kind == "starter" and (self.state_dir / f"done.{index}").exists()):
                continue
            if proc.returncode == -signal.SIGKILL:
                self.report.kills += 1  # it died at its crash point
            self.spawn(kind, index)

    def kill_one(self) -> None:
        kind, index = self.rng.choice([k for k in self.children if k[0] != "sweeper"])
        victim = self.children[(kind, index)]
        if victim.poll() is None:
            victim.kill()
            victim.wait()
            self.report.kills += 1
            self.spawn(kind, index, self.rng.choice(POINTS) if self.rng.random() < 0.5 else None)

    def pause_one_past_its_lease(self) -> bool:
        """SIGSTOP a busy worker (a starter, else a decider) past its lease; True once done."""
        alive = [(k, p) for k, p in self.children.items() if k[0] != "sweeper" and p.poll() is None]
        alive.sort(key=lambda item: item[0][0] != "starter")
        if not alive:
            return False
        target = alive[0][1]
        target.send_signal(signal.SIGSTOP)
        time.sleep(float(LEASE_SECONDS) * 2)  # its lease lapses; the sweeper takes its thread over
        target.send_signal(signal.SIGCONT)
        self.report.pauses += 1
        return True

    def starters_done(self) -> bool:
        return all((self.state_dir / f"done.{i}").exists() for i in range(self.starters))

    def finished(self) -> bool:
        if not self.starters_done():
            return False
        try:
            pending = self.runner.db.read(
                "SELECT COUNT(*) AS n FROM reviews WHERE status = 'pending' AND kind = 'review'"
            )
        except HitlError:
            return False  # the database is restarting
        return int(pending[0]["n"]) == 0

    def stop_children(self) -> None:
        (self.state_dir / "stop").write_text("1")
        for proc in self.children.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _drain(runner: Any) -> None:
    """Finish everything the chaos left half-done (as an operator's `hitl sweep` would, once its grace passed)."""
    time.sleep(float(LEASE_SECONDS) + 0.5)
    sweeper = Runner(runner.settings.model_copy(update={"resume_grace_seconds": 0.0}), db=runner.db)
    for _ in range(20):
        try:
            out = sweeper.sweep()
        except HitlError:
            time.sleep(1)
            continue
        stalled = runner.db.read("SELECT COUNT(*) AS n FROM threads WHERE status = 'running'")[0]["n"]
        if not out["resumed"] and not out["errors"] and not out["busy"] and int(stalled) == 0:
            return
        time.sleep(float(LEASE_SECONDS))


def check_promises(runner: Any, prefix: str) -> list[str]:
    """Every check of the harness over threads whose id starts with `prefix`; one line per violation."""
    db: Database = runner.db
    violations: list[str] = []
    like = {"p": f"{prefix}%"}
    rows = db.read("SELECT * FROM reviews WHERE thread_id LIKE :p AND kind = 'review'", like)
    entries = [e for e in ledger.list_entries(db, limit=10**7) if e["thread_id"].startswith(prefix)]
    by_review: dict[str | None, list[dict[str, Any]]] = {}
    for entry in entries:
        by_review.setdefault(entry["review_id"], []).append(entry)
    approvals: dict[tuple[str, str], int] = {}
    for r in db.read("SELECT review_id, args_hash, COUNT(*) AS n FROM review_approvals GROUP BY review_id, args_hash"):
        approvals[(r["review_id"], r["args_hash"])] = int(r["n"])
    for row in rows:
        review = public(row)
        executed = by_review.get(review["id"], [])
        decision = review["decision"] or {}
        moved = review["status"] == "approved_with_edits" and not decision.get("covered", True)
        if review["status"] in ("approved", "approved_with_edits") and not moved:
            if len(executed) != 1:
                violations.append(f"review {review['id']} approved but executed {len(executed)} times")
            if review["decided_by"] == review["requester"]:
                violations.append(f"review {review['id']} approved by its requester")
            approved_args = (
                decision.get("edited_action", {}).get("args")
                if review["status"] == "approved_with_edits"
                else review["args"]
            )
            if executed and executed[0]["args"] != approved_args:
                violations.append(f"review {review['id']}: executed arguments differ from the approved ones")
            bound = approvals.get((review["id"], value_hash(review["args"] or {})), 0)
            if (
                review["status"] == "approved"
                and review["approvals_required"] > 1
                and bound < review["approvals_required"]
            ):
                violations.append(
                    f"review {review['id']} executed without its {review['approvals_required']} approvals of its arguments"
                )
        elif executed:
            violations.append(f"review {review['id']} is {review['status']} but its action executed")
    for review_id, executed in by_review.items():
        if review_id is None:
            violations += [
                f"action {e['id']} ({e['name']}) executed without a review"
                for e in executed
                if e["name"] in ("refund", "restart_service")
            ]
    locked = {"refund": ("order_id", "currency"), "restart_service": ("service", "env")}
    for row in rows:
        review = public(row)
        for entry in by_review.get(review["id"], []):
            original = _first_proposal(rows, review["thread_id"], review["action"])
            if original and any(entry["args"].get(k) != original.get(k) for k in locked.get(entry["name"], ())):
                violations.append(f"action {entry['id']}: an edit retargeted {entry['name']}")
    # Reviews agree with their threads' checkpoints.
    for row in rows:
        snapshot = runner.snapshot(row["agent"], row["thread_id"])
        waiting = {p.id for p in snapshot.interrupts}
        if row["status"] == "pending" and row["interrupt_id"] not in waiting:
            violations.append(f"review {row['id']} pending but its thread is not waiting on it")
        if row["status"] != "pending" and row["interrupt_id"] in waiting:
            violations.append(f"review {row['id']} is {row['status']} but its thread still waits on it")
        if row["status"] != "pending" and row["applied_at"] is None:
            violations.append(f"review {row['id']} decided but never applied")
    stalled = db.read("SELECT thread_id FROM threads WHERE thread_id LIKE :p AND status = 'running'", like)
    violations += [f"thread {t['thread_id']} left running" for t in stalled]
    forks = db.read(
        "SELECT thread_id, parent_checkpoint_id, COUNT(*) AS n FROM checkpoints WHERE thread_id LIKE :p "
        "AND checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL GROUP BY thread_id, parent_checkpoint_id HAVING COUNT(*) > 1",
        like,
    )
    violations += [f"thread {f['thread_id']}: checkpoint chain forked at {f['parent_checkpoint_id']}" for f in forks]
    verified = audit.verify(db)
    if not verified.ok:
        violations.append(f"audit chain broken at {verified.broken_event}: {verified.reason}")
    return violations


def _first_proposal(rows: list[Any], thread_id: str, action: str | None) -> dict[str, Any] | None:
    """The arguments of the first review of this action on the thread (what the agent proposed)."""
    mine = sorted(
        (r for r in rows if r["thread_id"] == thread_id and r["action"] == action), key=lambda r: r["created_at"]
    )
    return loads(mine[0]["args"], {}) if mine else None


def main(argv: list[str]) -> None:
    """Child entry point: `python -m hitl_lab.soak KIND STATE_DIR INDEX`."""
    kind, state_dir, index = argv[0], Path(argv[1]), int(argv[2])
    {"starter": _starter, "decider": _decider, "sweeper": _sweeper}[kind](state_dir, index)


if __name__ == "__main__":
    main(sys.argv[1:])
