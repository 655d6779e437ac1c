"""Simulated reviewers at scale, and threshold sweeps: what notebooks 02 and 03 run.

Reviewers
    A `Reviewer` is an account with roles and three traits. Accuracy: the chance that its judgement
    of a proposal (sound or not) matches the case's ground truth. Strictness: the chance, scaled by
    the doubt it is shown (1 - confidence), that it holds back a proposal it judges sound: it
    escalates while the review request names a tier above, else asks the requester for more
    information. Latency: a lognormal handling time (a median and a spread; spread 0 is always the
    median). Every decision goes through `Runner.decide`, with the payload hash the reviewer was
    shown, so roles, tiers, two-person approval and the audit trail apply exactly as in production.

Ground truth
    Derived from the scenario, never from the agent's output: a case expected to be blocked must not
    be approved (the right decision is reject); a proposal of another action than the scenario
    expects is rejected (wrong_action); otherwise a seeded draw with `defect_rate` gives the
    proposal a latent defect that a careful reviewer corrects (an amount too high: edit it down; a
    text that needs fixing: edit it; anything else: reject), and the rest are sound (approve). A
    false approval is a review that ends approved although its truth says reject, or approved
    unchanged although its truth says edit. Each executed false approval is reported as an incident
    (`metrics.report_incident`, with `incident_probability`, `incident_delay_s` later), so that the
    runtime's own false_approval_rate and post_approval_incident_rate see it too.

Time
    A discrete-event simulation on a simulated clock. Every runtime call happens inside
    `canonical.use_clock`, so the rows the runtime writes carry simulated timestamps written by the
    runtime itself (no row is edited afterwards): `metrics.compute` reads time to review as
    decided_at - created_at, as it would in production. Requests arrive every
    `arrival_interval_s` on average (Poisson arrivals, or fixed gaps); each new review goes to the
    eligible reviewer who is free first (one holding a role the review's tier names, not its
    requester, not an earlier approver of the same review), who decides it after their latency. A
    review that nobody decides by its deadline is expired by `Runner.sweep(now=deadline)`, which
    applies the policy's fallback (silence never approves). Questions to requesters are not
    answered by the simulation: they expire at their deadline too. Leases keep the wall clock.

Threshold sweeps
    `policy_with` builds a policy with other thresholds (optionally without the policy's rules whose
    outcome is `review`, to see what the thresholds catch on their own), `write_policies` writes a
    complete policy folder (what `HITL_POLICY_DIR`, a runner's `policy_dir`, points at); `sweep_thresholds`
    runs scenario cases through `evaluation.evaluate` once per grid point, with `policy_dir` there, and `choose_thresholds`
    picks the point with the least review load that is no less safe than the shipped thresholds.

(The simulated business systems the agents act on are another thing: each agent's `records.py` under `graphs/`.)
"""

from __future__ import annotations

import heapq
import json
import math
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import ValidationError

from guardrails.policy import Policy, load_policy, load_policy_file
from hitl_core import ledger, metrics, reviews
from hitl_core.canonical import iso, parse_iso, use_clock
from hitl_core.errors import BadInput
from hitl_core.settings import Settings, configured
from hitl_core.users import add_user
from hitl_runtime.agents import policy_file, shipped_policy_files
from hitl_runtime.evaluation import HUMAN_ROUTES, Scenario, evaluate, load_scenarios
from hitl_runtime.runner import Runner

"""In a checkout: the project's scenario sets, and its copy of the design's samples (never a folder outside it)."""
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Default start of simulated time (a Monday morning)."""
REVIEWER_ROUTES = ("review", "escalate")
"""Routes that put a case in front of a reviewer (review load); needs_info asks the requester."""
TEXT_FIELDS = {"message": "tone", "note": "tone", "summary": "factual_error", "advice": "factual_error"}
"""Text arguments a reviewer may correct by editing, with the correction category it files."""
TEXT_FIX = " (Corrected by the reviewer: wording and references checked.)"
Kind = Literal["approve", "edit", "reject"]


# -- reviewers -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reviewer:
    """A simulated reviewer: an account with roles, accuracy, strictness and latency."""

    name: str
    roles: tuple[str, ...]
    accuracy: float = 0.9
    strictness: float = 0.1
    latency_median_s: float = 300.0
    latency_spread: float = 0.5
    """Standard deviation of log latency; 0 makes every decision take exactly the median."""

    def __post_init__(self) -> None:
        for trait in ("accuracy", "strictness"):
            value = getattr(self, trait)
            if not 0.0 <= value <= 1.0:
                raise BadInput(f"reviewer {self.name}: {trait} must be within 0..1, not {value}")
        if self.latency_median_s <= 0 or self.latency_spread < 0:
            raise BadInput(f"reviewer {self.name}: latency needs a median > 0 and a spread >= 0")

    def latency(self, rng: random.Random) -> float:
        """Seconds this reviewer takes for one decision."""
        if self.latency_spread == 0:
            return self.latency_median_s
        return self.latency_median_s * math.exp(self.latency_spread * rng.gauss(0.0, 1.0))


TEAM_ROLES: dict[str, tuple[int, float]] = {
    "support_agent": (3, 1.0),
    "support_lead": (2, 2.0),
    "sre": (2, 0.5),
    "ops_lead": (1, 1.0),
    "compliance_officer": (3, 3.0),
}
"""Role -> (people, latency factor) of `team`: enough people for every tier of the shipped policies
(two distinct approvers where a tier asks for two); leads and compliance take longer, on-call SREs less."""


def team(
    *,
    accuracy: float = 0.92,
    strictness: float = 0.15,
    latency_median_s: float = 240.0,
    latency_spread: float = 0.6,
    size: float = 1.0,
) -> list[Reviewer]:
    """A reviewer team covering every role the shipped policies name, with shared traits.

    `size` scales the number of people per role (at least two where a tier needs two approvers).
    """
    people = []
    for role, (count, factor) in TEAM_ROLES.items():
        for index in range(max(1 if count == 1 else 2, round(count * size))):
            people.append(
                Reviewer(
                    f"{role.replace('_', '-')}-{index + 1}",
                    (role,),
                    accuracy=accuracy,
                    strictness=strictness,
                    latency_median_s=latency_median_s * factor,
                    latency_spread=latency_spread,
                )
            )
    return people


# -- cases and ground truth ------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One scenario, with the set it comes from."""

    dataset: str
    scenario: Scenario

    @property
    def thread_id(self) -> str:
        """The simulation's thread for this case (stable, so seeded draws repeat)."""
        return f"sim-{self.dataset.replace('/', '.')}-{self.scenario.id}"[:100]


def scenario_files(folders: Iterable[Path] | None = None) -> list[Path]:
    """Every scenario set (`*.jsonl`) in the given folders (by default `HITL_SCENARIO_DIRS`), in order."""
    chosen = list(folders) if folders is not None else [Path(f) for f in configured().scenario_dirs]
    if not chosen:
        raise BadInput("no scenario folders: pass them, or set HITL_SCENARIO_DIRS (for example tests/scenarios)")
    return [path for folder in chosen if folder.is_dir() for path in sorted(folder.glob("*.jsonl"))]


def load_cases(paths: Iterable[Path], *, agents: Sequence[str] | None = None) -> list[Case]:
    """The cases of several scenario sets; a set is named by its file (`shared/` for the shared samples)."""
    cases = []
    for path in paths:
        prefix = "shared/" if path.parent.name == "shared" else ""
        for scenario in load_scenarios(path):
            if agents is None or scenario.agent in agents:
                cases.append(Case(prefix + path.stem, scenario))
    return cases


@dataclass(frozen=True)
class Truth:
    """The right decision on a proposal, and the correction a careful reviewer makes."""

    kind: Kind
    category: str | None = None
    args: dict[str, Any] | None = None
    """The corrected arguments, for an edit."""
    reason: str = "sound proposal"


def correction(action: str, args: dict[str, Any], amount_arg: str | None) -> Truth:
    """How a reviewer corrects a defective proposal of this action: an edit where one fits, else a rejection."""
    amount = args.get(amount_arg) if amount_arg else None
    if amount_arg and isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount > 1:
        lower = round(amount / 2, 2) if isinstance(amount, float) else max(1, amount // 2)
        return Truth("edit", "wrong_amount", {amount_arg: lower}, f"{amount_arg} too high")
    for name, category in TEXT_FIELDS.items():
        if isinstance(args.get(name), str) and args[name].strip():
            return Truth("edit", category, {name: args[name].rstrip() + TEXT_FIX}, f"{name} needs a correction")
    return Truth("reject", "factual_error", None, f"{action} is wrong in a way an edit cannot fix")


def ground_truth(
    case: Case, action: str, args: dict[str, Any], amount_arg: str | None, defect_rate: float, seed: int
) -> Truth:
    """The right decision on `action(args)` proposed for this case (see the module's docstring)."""
    expected = case.scenario.expected
    if expected.route == "block":
        return Truth("reject", "policy_violation", None, "the scenario expects this request to be blocked")
    if expected.action and expected.action != action:
        return Truth("reject", "wrong_action", None, f"the scenario expects {expected.action}, not {action}")
    if random.Random(f"{seed}:defect:{case.dataset}:{case.scenario.id}").random() < defect_rate:
        return correction(action, args, amount_arg)
    return Truth("approve")


@dataclass(frozen=True)
class View:
    """What the reviewer reads off a review request to decide."""

    action: str
    args: dict[str, Any]
    confidence: float
    can_escalate: bool


@dataclass(frozen=True)
class Judgement:
    """A reviewer's decision, before the runtime checks it."""

    decision: str
    args: dict[str, Any] | None = None
    category: str | None = None
    comment: str | None = None


class _Draws(Protocol):
    def random(self) -> float: ...


def judge(reviewer: Reviewer, truth: Truth, view: View, fallback: Truth, rng: _Draws) -> Judgement:
    """One reviewer's decision on one review request.

    With probability `accuracy` the reviewer sees the truth, else its opposite (a sound proposal
    looks defective, a defective one sound). A proposal that looks sound is approved, unless the
    reviewer holds it back (probability strictness x (1 - confidence)): it escalates while a tier
    above exists, else asks for more information. A proposal that looks defective gets the truth's
    correction, or, when it only looked defective, `fallback` (what the reviewer believes is wrong).
    """
    sees_truth = rng.random() < reviewer.accuracy
    looks_sound = (truth.kind == "approve") == sees_truth
    if looks_sound:
        if rng.random() < reviewer.strictness * (1.0 - min(max(view.confidence, 0.0), 1.0)):
            if view.can_escalate:
                return Judgement("escalate", comment="not sure enough to approve this; a senior reviewer should decide")
            return Judgement("request_info", comment="Please confirm the details of your request before we go ahead.")
        return Judgement("approve")
    fix = truth if truth.kind != "approve" else fallback
    if fix.kind == "edit" and fix.args:
        return Judgement("edit", args=fix.args, category=fix.category, comment=fix.reason)
    return Judgement("reject", category=fix.category or "other", comment=fix.reason)


# -- the simulation --------------------------------------------------------------------------------
@dataclass
class SimulationResult:
    """What happened: one record per case and one per reviewer decision (simulated times)."""

    cases: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    started: str
    finished: str
    settings: dict[str, Any] = field(default_factory=dict)

    def false_approvals(self) -> dict[str, dict[str, Any]]:
        """Per agent (and `all`): reviews approved against the truth, split by why they were wrong."""
        out: dict[str, dict[str, Any]] = {}
        for agent in [*sorted({c["agent"] for c in self.cases}), "all"]:
            final = [
                d
                for d in self.decisions
                if (agent == "all" or d["agent"] == agent) and d["outcome"] in ("approved", "approved_with_edits")
            ]
            wrong = [d for d in final if d["false_approval"]]
            out[agent] = {
                "approvals": len(final),
                "false_approvals": len(wrong),
                "expected_block": sum(1 for d in wrong if d["expected_route"] == "block"),
                "reviewer_error": sum(1 for d in wrong if d["expected_route"] != "block"),
                "rate": round(len(wrong) / len(final), 4) if final else None,
            }
        return out

    def route_accuracy(self) -> dict[str, float]:
        """Per agent: the share of cases whose first route matched the scenario's expected route."""
        out: dict[str, float] = {}
        for agent in sorted({c["agent"] for c in self.cases}):
            mine = [c for c in self.cases if c["agent"] == agent]
            out[agent] = round(sum(1 for c in mine if c["route"] == c["expected_route"]) / len(mine), 4)
        return out


@dataclass
class _Task:
    review_id: str
    case: Case
    ordinal: int
    deadline: datetime | None


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


def simulate(
    runner: Runner,
    cases: Sequence[Case],
    reviewers: Sequence[Reviewer],
    *,
    seed: int = 7,
    start: datetime = START,
    arrival_interval_s: float = 120.0,
    poisson: bool = True,
    defect_rate: float = 0.15,
    incident_probability: float = 1.0,
    incident_delay_s: float = 3600.0,
) -> SimulationResult:
    """Run every case through its agent at simulated times and let the reviewers decide (see the docstring).

    Give it a database of its own: the sweeps it runs at simulated times would act on any other
    pending review there, so it refuses a database that has one. The reviewers are created as
    accounts. Deterministic for a seed, given the same cases, reviewers and database contents.
    """
    if not reviewers:
        raise BadInput("the simulation needs at least one reviewer")
    if runner.db.read("SELECT id FROM reviews WHERE status = 'pending' LIMIT 1"):
        raise BadInput(
            "simulate needs a database without pending reviews: its sweeps at simulated times would expire them"
        )
    for reviewer in reviewers:
        add_user(runner.db, reviewer.name, list(reviewer.roles), actor="simulation")
    run = _Simulation(
        runner,
        reviewers,
        _Clock(start.astimezone(UTC)),
        seed=seed,
        defect_rate=defect_rate,
        incident_probability=incident_probability,
        incident_delay_s=incident_delay_s,
    )
    run.schedule_arrivals(cases, arrival_interval_s, poisson)
    run.play()
    return SimulationResult(
        cases=run.finished_cases(),
        decisions=run.decisions,
        started=iso(start),
        finished=iso(run.clock.at),
        settings={
            "seed": seed,
            "arrival_interval_s": arrival_interval_s,
            "poisson": poisson,
            "defect_rate": defect_rate,
            "incident_probability": incident_probability,
            "reviewers": len(reviewers),
        },
    )


class _Simulation:
    """One simulation's event queue and what it has seen: arrivals, reviewers' queues, decisions, incidents."""

    def __init__(
        self,
        runner: Runner,
        reviewers: Sequence[Reviewer],
        clock: _Clock,
        *,
        seed: int,
        defect_rate: float,
        incident_probability: float,
        incident_delay_s: float,
    ) -> None:
        self.runner, self.reviewers, self.clock, self.seed = runner, reviewers, clock, seed
        self.defect_rate = defect_rate
        self.incident_probability = incident_probability
        self.incident_delay_s = incident_delay_s
        self.events: list[tuple[datetime, int, str, Any]] = []
        self.counter = 0
        self.free_at = {r.name: clock.at for r in reviewers}
        self.latency_rng = {r.name: random.Random(f"{seed}:latency:{r.name}") for r in reviewers}
        self.by_name = {r.name: r for r in reviewers}
        self.by_thread: dict[str, Case] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.decisions: list[dict[str, Any]] = []
        self.known: set[str] = set()
        self.ordinals: Counter[str] = Counter()
        self.tasks: dict[str, _Task] = {}

    def push(self, when: datetime, kind: str, data: Any) -> None:
        """Queue an event; the counter keeps events at the same instant in the order they were queued."""
        self.counter += 1
        heapq.heappush(self.events, (when, self.counter, kind, data))

    def schedule_arrivals(self, cases: Sequence[Case], arrival_interval_s: float, poisson: bool) -> None:
        """Queue each case's arrival, spaced by the interval (Poisson or even), from the start."""
        arrivals = random.Random(f"{self.seed}:arrivals")
        when = self.clock.at
        for case in cases:
            self.push(when, "arrive", case)
            gap = arrivals.expovariate(1.0 / arrival_interval_s) if poisson else arrival_interval_s
            when += timedelta(seconds=gap)

    def play(self) -> None:
        """Run the events in time order under the simulated clock, looking for new reviews after each."""
        with use_clock(self.clock):
            while self.events:
                self.clock.at, _, kind, data = heapq.heappop(self.events)
                if kind == "arrive":
                    self.arrive(data)
                elif kind == "decide":
                    self.decide(*data)
                elif kind == "deadline":
                    self.runner.sweep(now=iso(self.clock.at))
                elif kind == "incident":
                    metrics.report_incident(self.runner.db, data[0], "simulated-monitor", f"false approval: {data[1]}")
                self.discover()

    def finished_cases(self) -> list[dict[str, Any]]:
        """Each case's record with its thread's final status and how many decisions it took."""
        for thread_id, record in self.records.items():
            row = self.runner.db.read("SELECT status FROM threads WHERE thread_id = :t", {"t": thread_id})
            record["status"] = row[0]["status"] if row else None
            record["decisions"] = sum(
                1 for d in self.decisions if d.get("case") == record["case"] and d.get("dataset") == record["dataset"]
            )
        return list(self.records.values())

    def assign(self, task: _Task, exclude: set[str]) -> None:
        """Queue the review with the eligible reviewer free soonest, unless nobody gets to it before its deadline."""
        row = self.runner.db.read("SELECT required_roles, requester FROM reviews WHERE id = :i", {"i": task.review_id})[
            0
        ]
        review = {"requester": row["requester"], "required_roles": _json_list(row["required_roles"])}
        eligible = [r for r in self.reviewers if r.name not in exclude and reviews.decide_refusal(r, review) is None]
        if not eligible:
            return  # nobody may decide it: it waits for its deadline
        clock, free_at = self.clock, self.free_at
        chosen = min(eligible, key=lambda r: (max(free_at[r.name], clock.at), r.name))
        begin = max(free_at[chosen.name], clock.at)
        if task.deadline is not None and begin >= task.deadline:
            return  # the queue is too long: nobody gets to it before its deadline
        done = begin + timedelta(seconds=chosen.latency(self.latency_rng[chosen.name]))
        free_at[chosen.name] = done
        self.push(done, "decide", (task.review_id, chosen.name))

    def discover(self) -> None:
        """Pick up reviews and questions that appeared since the last look; queue reviews, watch deadlines."""
        rows = self.runner.db.read(
            "SELECT id, kind, thread_id, deadline FROM reviews WHERE status = 'pending' ORDER BY created_at, thread_id"
        )
        for row in rows:
            if row["id"] in self.known:
                continue
            self.known.add(row["id"])
            deadline = parse_iso(row["deadline"]) if row["deadline"] else None
            if deadline is not None:
                self.push(deadline + timedelta(milliseconds=1), "deadline", row["id"])
            case = self.by_thread.get(row["thread_id"])
            if row["kind"] != "review" or case is None:
                continue
            self.ordinals[row["thread_id"]] += 1
            task = _Task(row["id"], case, self.ordinals[row["thread_id"]], deadline)
            self.tasks[row["id"]] = task
            self.assign(task, set())

    def arrive(self, case: Case) -> None:
        """Start the case's thread with its requester's message and note what the agent did."""
        self.by_thread[case.thread_id] = case
        result = self.runner.run(
            case.scenario.agent,
            case.scenario.message,
            thread_id=case.thread_id,
            user=f"requester-{case.scenario.id}",
            context=case.scenario.context,
        )
        self.records[case.thread_id] = {
            "dataset": case.dataset,
            "case": case.scenario.id,
            "agent": case.scenario.agent,
            "expected_route": case.scenario.expected.route,
            "route": result.route,
            "action": (result.action or {}).get("name"),
            "confidence": result.confidence,
            "risk": result.risk,
            "arrived_at": iso(self.clock.at),
        }

    def decide(self, review_id: str, name: str) -> None:
        """The reviewer's turn on a review: judge it against the truth, decide, and follow up on the outcome."""
        task = self.tasks[review_id]
        case = task.case
        shown = self.runner.show(review_id)
        base = {
            "review_id": review_id,
            "agent": case.scenario.agent,
            "dataset": case.dataset,
            "case": case.scenario.id,
            "expected_route": case.scenario.expected.route,
            "reviewer": name,
            "created_at": shown["created_at"],
            "decided_at": iso(self.clock.at),
            "wait_s": round((self.clock.at - parse_iso(shown["created_at"])).total_seconds(), 3),
            "action": shown["action"],
            "tier": shown["tier_name"],
        }
        if shown["status"] != "pending":
            self.decisions.append(
                {
                    **base,
                    "decision": None,
                    "outcome": f"too late ({shown['status']})",
                    "truth": None,
                    "false_approval": False,
                }
            )
            return
        truth, verdict, outcome = self._judge_and_decide(task, name, shown)
        wrong = (outcome == "approved" and truth.kind != "approve") or (
            outcome == "approved_with_edits" and truth.kind == "reject"
        )
        self.decisions.append(
            {
                **base,
                "decision": verdict.decision,
                "category": verdict.category,
                "outcome": outcome,
                "truth": truth.kind,
                "truth_reason": truth.reason,
                "false_approval": wrong,
            }
        )
        if outcome == "pending":  # more approvers needed: the next one, never the same person
            approvers = {
                a["reviewer"]
                for a in self.runner.db.read(
                    "SELECT reviewer FROM review_approvals WHERE review_id = :i", {"i": review_id}
                )
            }
            self.assign(task, approvers)
        elif wrong:
            self._maybe_report_incident(task, truth)

    def _judge_and_decide(self, task: _Task, name: str, shown: dict[str, Any]) -> tuple[Truth, Judgement, str]:
        """The reviewer's verdict on what they are shown, given to the runtime; a refused edit becomes a rejection."""
        case, reviewer, review_id, seed = task.case, self.by_name[name], task.review_id, self.seed
        payload = shown["interrupt"]
        args = dict(shown["args"] or {})
        policy = self.runner.policy(case.scenario.agent)
        amount_arg = policy.actions[shown["action"]].amount_arg if shown["action"] in policy.actions else None
        truth = ground_truth(case, shown["action"], args, amount_arg, self.defect_rate, seed)
        view = View(shown["action"], args, float(shown["confidence"] or 0.0), bool(payload.get("escalation_path")))
        rng = random.Random(f"{seed}:judge:{case.thread_id}:{task.ordinal}:{name}")
        verdict = judge(reviewer, truth, view, correction(shown["action"], args, amount_arg), rng)
        try:
            out = self.runner.decide(
                review_id,
                verdict.decision,
                name,
                args=verdict.args,
                comment=verdict.comment,
                category=verdict.category,
                seen_hash=shown["payload_hash"],
            )
        except BadInput:
            # An edit the runtime refuses (it would change nothing, or breaks a check): the reviewer rejects.
            verdict = Judgement("reject", category=verdict.category or "other", comment="the correction was refused")
            out = self.runner.decide(
                review_id,
                "reject",
                name,
                comment=verdict.comment,
                category=verdict.category,
                seen_hash=shown["payload_hash"],
            )
        return truth, verdict, str(out["status"])

    def _maybe_report_incident(self, task: _Task, truth: Truth) -> None:
        """A wrongly approved action that ran is reported as an incident later, with the configured probability."""
        case = task.case
        executed = [e for e in ledger.list_entries(self.runner.db, case.thread_id) if e["review_id"] == task.review_id]
        draw = random.Random(f"{self.seed}:incident:{case.thread_id}:{task.ordinal}").random()
        if executed and draw < self.incident_probability:
            self.push(
                self.clock.at + timedelta(seconds=self.incident_delay_s), "incident", (executed[0]["id"], truth.reason)
            )


@dataclass
class Trial:
    """One simulation on a database of its own, with the runtime's metrics over that database."""

    label: str
    result: SimulationResult
    metrics: dict[str, Any]
    waits: list[dict[str, Any]]

    def row(self) -> dict[str, Any]:
        """The headline figures, for comparing trials side by side."""
        m = self.metrics
        return {
            "trial": self.label,
            "reviews": m["reviews"],
            "approval_rate": m["approval_rate"],
            "edit_rate": m["edit_rate"],
            "rejection_rate": m["rejection_rate"],
            "escalation_rate": m["escalation_rate"],
            "expiry_rate": m["expiry_rate"],
            "median_review_s": m["time_to_review"]["median_s"],
            "p90_review_s": m["time_to_review"]["p90_s"],
            "false_approvals": self.result.false_approvals()["all"]["false_approvals"],
            "false_approval_share": self.result.false_approvals()["all"]["rate"],
            "incident_false_approval_rate": m["false_approval_rate"],
        }


def run_trial(
    database_url: str, cases: Sequence[Case], reviewers: Sequence[Reviewer], *, label: str = "", **options: Any
) -> Trial:
    """`simulate` on a fresh database at `database_url`, then `metrics.compute` and the review waits there."""
    runner = Runner(Settings(database_url=database_url))
    try:
        result = simulate(runner, cases, reviewers, **options)
        return Trial(label, result, metrics.compute(runner.db), review_waits(runner))
    finally:
        runner.close()


def _json_list(text: Any) -> list[str]:
    value = json.loads(text) if isinstance(text, str) else text
    return [str(v) for v in value or []]


def review_waits(runner: Runner) -> list[dict[str, Any]]:
    """Every review a person decided, with its wait (decided_at - created_at, as `metrics` reads it)."""
    rows = runner.db.read(
        "SELECT agent, action, status, created_at, decided_at FROM reviews "
        "WHERE kind = 'review' AND decided_at IS NOT NULL AND status <> 'expired' ORDER BY created_at"
    )
    return [
        {**row, "wait_s": (parse_iso(row["decided_at"]) - parse_iso(row["created_at"])).total_seconds()} for row in rows
    ]


# -- threshold sweeps ------------------------------------------------------------------------------
def policy_with(
    agent: str,
    *,
    auto_min_confidence: float | None = None,
    auto_max_risk: float | None = None,
    review_min_confidence: float | None = None,
    drop_review_rules: bool = False,
    directory: Path | None = None,
) -> Policy:
    """The agent's shipped policy with other thresholds (validated like a policy file).

    `review_min_confidence` defaults to the shipped one, lowered to `auto_min_confidence` when that
    is below it (the bands must not cross). `drop_review_rules` removes the rules whose outcome is
    `review` (and lowers request intents whose floor is review to no floor), leaving blocks,
    escalations and questions: what the thresholds catch on their own.
    """
    base = load_policy(agent, directory, own_file=policy_file(agent)) if directory else _shipped(agent)
    auto_min = base.thresholds.auto_min_confidence if auto_min_confidence is None else auto_min_confidence
    review_min = base.thresholds.review_min_confidence if review_min_confidence is None else review_min_confidence
    data = base.model_dump(mode="json")
    data["thresholds"] = {
        "auto_min_confidence": auto_min,
        "auto_max_risk": base.thresholds.auto_max_risk if auto_max_risk is None else auto_max_risk,
        "review_min_confidence": min(review_min, auto_min),
    }
    if drop_review_rules:
        data["rules"] = [rule for rule in data["rules"] if rule["outcome"] != "review"]
        # Request intents whose floor is review are review rules too: their floor goes, their examples
        # stay (the offline model still reads requests with them, so the proposals do not change).
        for intent in data.get("intents", {}).values():
            intent["route"] = "auto" if intent["route"] == "review" else intent["route"]
            intent["otherwise"] = "auto" if intent.get("otherwise") == "review" else intent.get("otherwise", "auto")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"{agent}: {where}: {first['msg'].removeprefix('Value error, ')}") from None


def policy_yaml(policy: Policy) -> str:
    """A policy as the YAML file the agents load."""
    header = f"# {policy.agent} policy written by hitl_lab.simulation (thresholds chosen by a sweep)\n"
    return header + yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _shipped(agent: str) -> Policy:
    """The agent's own policy file, whatever `HITL_POLICY_DIR` says."""
    path = policy_file(agent)
    if path is None:
        raise BadInput(f"agent {agent!r} has no policy file of its own")
    return load_policy_file(path)


def write_policies(folder: Path, policies: Iterable[Policy]) -> Path:
    """A complete policy folder: every offered agent's own file, with the given agents' policies replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for agent, path in sorted(shipped_policy_files().items()):
        shutil.copyfile(path, folder / f"{agent}.yaml")
    for policy in policies:
        (folder / f"{policy.agent}.yaml").write_text(policy_yaml(policy), encoding="utf-8")
    return folder


def routing_figures(per_case: list[dict[str, Any]]) -> dict[str, Any]:
    """Review load, automation and false_auto of one evaluation's cases."""
    n = len(per_case)
    to_reviewer = sum(1 for c in per_case if c["route"] in REVIEWER_ROUTES)
    auto = sum(1 for c in per_case if c["route"] == "auto")
    false_auto = [c["id"] for c in per_case if c["expected_route"] in HUMAN_ROUTES and c["route"] == "auto"]
    return {
        "n": n,
        "review_load": round(to_reviewer / n, 4) if n else None,
        "auto_share": round(auto / n, 4) if n else None,
        "false_auto": len(false_auto),
        "false_auto_cases": false_auto,
        "route_accuracy": round(sum(1 for c in per_case if c["route"] == c["expected_route"]) / n, 4) if n else None,
    }


VARIANTS = ("shipped rules", "thresholds alone")
"""Sweep variants: the policy's rules as shipped, and without its `review` rules."""


def sweep_thresholds(
    cases: dict[str, list[Scenario]],
    confidences: Sequence[float],
    risks: Sequence[float],
    *,
    variants: Sequence[str] = VARIANTS,
    include_shipped: bool = True,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Evaluate each agent's cases at every (auto_min_confidence, auto_max_risk) of the grid.

    One row per agent, variant and grid point (plus the shipped thresholds when `include_shipped`),
    with `routing_figures`. Each point writes its policies to a folder of its own (the policy cache
    is keyed by path and mtime) and runs `evaluation.evaluate` on a fresh database with `settings`
    (default: the environment's) pointing `policy_dir` there.
    """
    base = settings or configured()
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise BadInput(f"unknown sweep variant {unknown[0]!r} (choose from: {', '.join(VARIANTS)})")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hitl-sweep-") as scratch:
        for agent, scenarios in cases.items():
            shipped = _shipped(agent).thresholds
            points = [(c, r) for c in confidences for r in risks]
            if include_shipped and (shipped.auto_min_confidence, shipped.auto_max_risk) not in points:
                points.append((shipped.auto_min_confidence, shipped.auto_max_risk))
            for variant in variants:
                for confidence, risk in points:
                    policy = policy_with(
                        agent,
                        auto_min_confidence=confidence,
                        auto_max_risk=risk,
                        drop_review_rules=variant == "thresholds alone",
                    )
                    folder = write_policies(Path(scratch) / f"p{len(rows)}", [policy])
                    point = base.model_copy(update={"policy_dir": str(folder)})
                    result = evaluate(agent, scenarios, settings=point, grade_drafts=False)
                    rows.append(
                        {
                            "agent": agent,
                            "variant": variant,
                            "auto_min_confidence": confidence,
                            "auto_max_risk": risk,
                            "shipped": (confidence, risk) == (shipped.auto_min_confidence, shipped.auto_max_risk),
                            **routing_figures(result["per_case"]),
                        }
                    )
    return rows


def choose_thresholds(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per agent, the grid point with the least review load that is no less safe than the shipped thresholds.

    Review load is read with the rules as shipped (what reviewers would really get). No less safe:
    false_auto no higher than the shipped thresholds' in every variant swept. Among equal loads, the
    point that lets fewer risky cases through with the thresholds alone wins (a wider safety net at
    no cost), then the one closest to the shipped thresholds (no change the sweep cannot justify).
    """
    return {agent: _choose([r for r in rows if r["agent"] == agent]) for agent in sorted({r["agent"] for r in rows})}


def _choose(rows: list[dict[str, Any]]) -> dict[str, Any]:
    table = {(r["variant"], r["auto_min_confidence"], r["auto_max_risk"]): r for r in rows}
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in rows)]
    shipped = next(((r["auto_min_confidence"], r["auto_max_risk"]) for r in rows if r["shipped"]), None)
    if shipped is None:
        raise BadInput(f"{rows[0]['agent']}: the sweep has no row for the shipped thresholds")
    points = sorted({(r["auto_min_confidence"], r["auto_max_risk"]) for r in rows})

    def figures(point: tuple[float, float], key: str) -> list[Any]:
        return [table[(v, *point)][key] for v in variants if (v, *point) in table]

    safe = [
        p
        for p in points
        if all(a <= b for a, b in zip(figures(p, "false_auto"), figures(shipped, "false_auto"), strict=True))
    ]
    first, last = variants[0], variants[-1]
    best = min(
        safe,
        key=lambda p: (
            table[(first, *p)]["review_load"],
            table[(last, *p)]["false_auto"],
            round(abs(p[0] - shipped[0]) + abs(p[1] - shipped[1]), 9),
            -p[0],
            p[1],
        ),
    )
    return {
        "auto_min_confidence": best[0],
        "auto_max_risk": best[1],
        "shipped": {"auto_min_confidence": shipped[0], "auto_max_risk": shipped[1]},
        "chosen_figures": {v: {k: table[(v, *best)][k] for k in ("review_load", "false_auto")} for v in variants},
        "shipped_figures": {v: {k: table[(v, *shipped)][k] for k in ("review_load", "false_auto")} for v in variants},
    }
