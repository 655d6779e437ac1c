"""How much routine work a perfect intent reading would automate, and what sends the rest to a person.

An analysis, not a feature: for each measurement set of a manifest (`tests/scenarios/sets.json`), the
requests labelled `auto` run twice through `hitl eval`'s code, once as they are and once with the
intent reading (`guardrails.intents.classify`) replaced by an oracle that reads every request as the
agent's routine intent and nothing else. What still goes to a person then is decided by the other
signals (the evidence score, the request's facts, the context rules, confidence), so the second
figure is the automation a better intent reading alone could reach.

A routine label says the request should complete on its own, but a question completes on its own
only when the knowledge answers it, and the writers of the held-out sets did not know the knowledge.
`--knowledge FILE` groups the routine requests by a judgement made without seeing any route (one
JSON line per request: `id`, `kind` knowledge or task, `verdict` answered, partly or not answered),
so the figures for the routine work the rules mean to automate stand apart. Usage:

    .venv/bin/python scripts/intent_ceiling.py tests/scenarios/sets.json [--agent A] [--json]
    .venv/bin/python scripts/intent_ceiling.py tests/scenarios/sets.json \
        --knowledge docs/evaluation/knowledge-coverage-v14-v15.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

ROUTINE = {"support": "question", "ops": "diagnose", "compliance": "policy_question"}
"""Each example agent's routine intent: the reading a perfect reader gives a request labelled auto."""
GROUPS = {
    ("knowledge", "answered"): "answered by the knowledge",
    ("knowledge", "partly"): "partly answered",
    ("knowledge", "not answered"): "not answered by the knowledge",
}
TASK = "a task, no knowledge needed"


@contextmanager
def _oracle_reading() -> Iterator[None]:
    """While open, a request reads as routine intents only, never unread (a pool's process runs both kinds)."""
    import guardrails.intents as intents

    real = intents.classify

    def routine_only(policy: Any, text: str) -> dict[str, Any]:
        out = real(policy, text)
        kept = [m for m in out["matches"] if policy.intents[m["id"]].route == "auto"]
        if not kept:
            kept = [{"id": ROUTINE[policy.agent], "score": 1.0, "segment": text[:200], "tentative": False}]
        return {**out, "matches": kept, "unread": False, "unread_asks": []}

    intents.classify = routine_only
    try:
        yield
    finally:
        intents.classify = real


def _reason_id(reason: str) -> str:
    """A reason's rule id ("weak_evidence: ..." -> weak_evidence; "confidence 0.2 below 0.6" -> confidence)."""
    head = reason.split(":")[0]
    return head.split(" ")[0] if head.startswith(("confidence ", "risk ")) else head


def _run(job: tuple[str, str, list[Any], bool]) -> dict[str, Any]:
    name, agent, cases, oracle = job
    from hitl_runtime.evaluation import evaluate

    with _oracle_reading() if oracle else nullcontext():
        result = evaluate(agent, cases, grade_drafts=False)
    reasons = Counter(_reason_id(r) for case in result["per_case"] if case["route"] != "auto" for r in case["reasons"])
    return {
        "set": name,
        "agent": agent,
        "oracle": oracle,
        "n": result["n"],
        "automation": result["automation_rate"],
        "reasons": dict(reasons.most_common()),
    }


def _by_knowledge(path: Path, cases: dict[str, tuple[str, Any]]) -> dict[tuple[str, str], list[Any]]:
    """The judged requests, as (group, agent) -> cases; a line that names no routine case or no verdict is refused."""
    from pydantic import BaseModel, ConfigDict

    from hitl_core.errors import BadInput
    from hitl_runtime.evaluation import load_jsonl

    class Judgement(BaseModel):
        model_config = ConfigDict(extra="allow")
        id: str
        kind: str
        verdict: str | None = None

    groups: dict[tuple[str, str], list[Any]] = {}
    for number, judged in load_jsonl(path, Judgement, "judgements"):
        if judged.id not in cases:
            raise BadInput(
                f"{path.name} line {number}: {judged.id!r} is no routine request of the manifest's measurement sets"
            )
        group = TASK if judged.kind == "task" else GROUPS.get((judged.kind, judged.verdict or ""))
        if group is None:
            raise BadInput(
                f"{path.name} line {number}: kind {judged.kind!r} with verdict {judged.verdict!r} "
                "(expected task, or knowledge with " + ", ".join(v for _, v in GROUPS) + ")"
            )
        agent, case = cases[judged.id]
        groups.setdefault((group, agent), []).append(case)
    return groups


def main(argv: list[str] | None = None) -> int:
    """Print, per agent and measurement set, automation as read today and with a perfect intent reading."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--agent", action="append", help="only this agent (repeat); default: the manifest's")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--knowledge", type=Path, help="group the judged routine requests by whether the knowledge answers them"
    )
    args = parser.parse_args(argv)

    from hitl_core.errors import BadInput
    from hitl_runtime.evaluation_sets import load_manifest, set_cases

    try:
        manifest = load_manifest(args.manifest)
        agents = args.agent or manifest.agents
        unknown = sorted(set(agents) - set(ROUTINE))
        if unknown:
            raise BadInput(f"no routine intent known for {', '.join(unknown)} (known: {', '.join(ROUTINE)})")
        jobs = []
        routine: dict[str, tuple[str, Any]] = {}
        for scenario_set in manifest.sets:
            if scenario_set.role != "measurement":
                continue
            for agent in agents:
                originals, paraphrases = set_cases(args.manifest.parent, scenario_set, agent)
                cases = [c for c in paraphrases or originals if c.expected.route == "auto"]
                routine.update({c.id: (agent, c) for c in cases})
                if cases and not args.knowledge:
                    jobs += [(scenario_set.name, agent, cases, oracle) for oracle in (False, True)]
        if args.knowledge:
            order = [*GROUPS.values(), TASK]
            judged = _by_knowledge(args.knowledge, routine)
            for (group, agent), cases in sorted(judged.items(), key=lambda kv: (kv[0][1], order.index(kv[0][0]))):
                jobs += [(group, agent, cases, oracle) for oracle in (False, True)]
    except BadInput as exc:
        print(f"intent_ceiling: {exc}", file=sys.stderr)
        return 2
    with ProcessPoolExecutor(mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_run, jobs))
    rows = [
        {**today, "automation_with_perfect_intents": oracle["automation"], "still_to_a_person": oracle["reasons"]}
        for today, oracle in zip(results[::2], results[1::2], strict=True)
    ]
    for row in rows:
        row.pop("oracle")
        row["reasons_today"] = row.pop("reasons")
    if args.json:
        print(json.dumps(rows))
        return 0
    print(
        "| set | agent | routine requests | automation today | with a perfect intent reading | what still sends them to a person |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        rest = ", ".join(f"{k} {v}" for k, v in list(row["still_to_a_person"].items())[:4]) or "nothing"
        print(
            f"| {row['set']} | {row['agent']} | {row['n']} | {row['automation']} | "
            f"{row['automation_with_perfect_intents']} | {rest} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
