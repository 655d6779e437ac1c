"""`hitl eval`: run scenario files through an agent and score its routing and its drafts.

Each evaluation runs in a fresh, throwaway SQLite database so that results are reproducible and
the configured database (and its simulated systems) is never touched. Beside the routing figures,
every drafted message is scored (relevance, faithfulness, policy compliance, tone, safety) by the
offline scorers, and with `grader="model"` also by the configured chat model.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from guardrails.output_checks import action_statements
from guardrails.scorers import SCORERS, model_graded, score_draft, summarize
from hitl_core import memory
from hitl_core.errors import BadInput
from hitl_core.settings import Settings, configured
from hitl_runtime.models import make_model
from hitl_runtime.runner import Runner

Line = TypeVar("Line", bound=BaseModel)
RouteName = Literal["auto", "review", "needs_info", "escalate", "block"]
HUMAN_ROUTES = ("review", "needs_info", "escalate", "block")


class Expected(BaseModel):
    """What a scenario expects."""

    model_config = ConfigDict(extra="allow")
    route: RouteName
    action: str | None = None


class Scenario(BaseModel):
    """One evaluation case (DESIGN.md's scenario format)."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=100)
    agent: str
    message: str = Field(min_length=1, max_length=8000)
    context: dict[str, Any] = Field(default_factory=dict)
    expected: Expected


def load_jsonl(path: Path, model: type[Line], what: str) -> Iterator[tuple[int, Line]]:
    """Each non-blank line of a JSON-lines file as `model`, with its number; a bad line fails with its number and field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, model.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadInput(f"{path.name} line {number}: {where}: {first['msg']}") from None


def load_scenarios(path: Path, agent: str | None = None) -> list[Scenario]:
    """Parse a scenario file (DESIGN.md's format); a bad line fails with its number and the field."""
    cases: list[Scenario] = []
    seen: set[str] = set()
    for number, case in load_jsonl(path, Scenario, "dataset"):
        if case.id in seen:
            raise BadInput(f"{path.name} line {number}: duplicate id {case.id!r}")
        seen.add(case.id)
        if agent is None or case.agent == agent:
            cases.append(case)
    if not cases:
        raise BadInput(f"{path.name}: no scenarios for agent {agent!r}")
    return cases


def score(per_case: list[dict[str, Any]]) -> dict[str, Any]:
    """Routing figures from per-case results."""
    n = len(per_case)
    confusion: dict[str, Counter[str]] = {}
    for case in per_case:
        confusion.setdefault(case["expected_route"], Counter())[case["route"] or "none"] += 1
    correct = sum(1 for c in per_case if c["route"] == c["expected_route"])
    false_auto = [c["id"] for c in per_case if c["expected_route"] in HUMAN_ROUTES and c["route"] == "auto"]
    expected_auto = [c for c in per_case if c["expected_route"] == "auto"]
    with_action = [c for c in per_case if c.get("expected_action")]
    return {
        "n": n,
        "route_accuracy": round(correct / n, 4) if n else 0.0,
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "false_auto": len(false_auto),
        "false_auto_cases": false_auto,
        "automation_rate": round(sum(1 for c in expected_auto if c["route"] == "auto") / len(expected_auto), 4)
        if expected_auto
        else None,
        "action_accuracy": round(
            sum(1 for c in with_action if c["action"] == c["expected_action"]) / len(with_action), 4
        )
        if with_action
        else None,
        "mistakes": [c["id"] for c in per_case if c["route"] != c["expected_route"]],
    }


def paraphrase_of(case: Scenario) -> str | None:
    """The id of the case a paraphrase rephrases (its `paraphrase_of` field), if it is one."""
    value = (case.model_extra or {}).get("paraphrase_of")
    return str(value) if value else None


def paraphrase_agreement(originals: list[dict[str, Any]], paraphrased: list[dict[str, Any]]) -> dict[str, Any]:
    """How many cases route the same however they are worded.

    A case counts as agreeing only if every one of its paraphrases took the route the original
    took; cases without a paraphrase in the file are left out, and so are paraphrases of cases
    that are not among `originals` (`unmatched`).
    """
    routes = {c["id"]: c["route"] for c in originals}
    groups: dict[str, list[dict[str, Any]]] = {}
    unmatched = 0
    for case in paraphrased:
        source = case.get("paraphrase_of")
        if source in routes:
            groups.setdefault(str(source), []).append(case)
        else:
            unmatched += 1
    agreeing = sorted(s for s, cases in groups.items() if all(c["route"] == routes[s] for c in cases))
    return {
        "cases": len(groups),
        "agreeing": len(agreeing),
        "agreement": round(len(agreeing) / len(groups), 4) if groups else None,
        "disagreeing_cases": sorted(set(groups) - set(agreeing)),
        "unmatched_paraphrases": unmatched,
    }


def evaluate(
    agent: str,
    scenarios: list[Scenario],
    *,
    settings: Settings | None = None,
    runner_factory: Callable[[Settings], Any] | None = None,
    lessons: list[dict[str, Any]] | None = None,
    grade_drafts: bool = True,
    grader: str = "offline",
    grader_model: Any = None,
    paraphrases: list[Scenario] | None = None,
) -> dict[str, Any]:
    """Run every case on a fresh database and score the routes (and the drafts).

    `lessons`: the memory the agent runs with (accepted lessons as `hitl_core.memory` stores
    them); none by default. `grader="model"` adds model-graded draft scores from `grader_model`
    or, when not given, the configured ChatOpenAI (`OPENAI_API_KEY` or `OPENAI_BASE_URL`).
    `paraphrases`: cases with a `paraphrase_of` field, run too; the result then has
    `paraphrase_agreement` (the share of cases all of whose paraphrases route like the original)
    and `paraphrases` (their own routing figures and the agreement's details).
    """
    base = settings or configured()
    if grader not in ("offline", "model"):
        raise BadInput(f"unknown grader {grader!r} (offline or model)")
    if grader == "model" and grader_model is None:
        if not (base.openai_api_key or base.openai_base_url):
            raise BadInput("--grader model needs a model server: OPENAI_API_KEY or OPENAI_BASE_URL")

        grader_model = make_model(agent, base)
    with tempfile.TemporaryDirectory(prefix="hitl-eval-") as folder:
        eval_settings = base.model_copy(update={"database_url": f"sqlite:///{folder}/eval.db"})
        runner = (runner_factory or Runner)(eval_settings)
        try:
            for lesson in lessons or []:
                memory.remember(runner.db, agent, lesson)
            per_case = [_run_case(runner, agent, case, "eval", grade_drafts, grader_model) for case in scenarios]
            rephrased = [
                {**_run_case(runner, agent, case, "eval-p", grade_drafts, grader_model), "paraphrase_of": source}
                for case in paraphrases or []
                if (source := paraphrase_of(case)) is not None
            ]
        finally:
            memory.close(runner.db)
            runner.close()
    out = {"agent": agent, **score(per_case)}
    if grade_drafts:
        out["draft_scores"] = summarize(per_case)
        if grader_model is not None:
            out["draft_scores_model"] = _summarize_model(per_case)
    if paraphrases is not None:
        agreement = paraphrase_agreement(per_case, rephrased)
        out["paraphrase_agreement"] = agreement["agreement"]
        out["paraphrases"] = {**(score(rephrased) if rephrased else {"n": 0}), **agreement, "per_case": rephrased}
    return {**out, "per_case": per_case}


def _run_case(
    runner: Any, agent: str, case: Scenario, prefix: str, grade_drafts: bool, grader_model: Any
) -> dict[str, Any]:
    thread_id = f"{prefix}-{case.id}"
    result = runner.run(agent, case.message, thread_id=thread_id, user=f"requester-{case.id}", context=case.context)
    return {
        "id": case.id,
        "expected_route": case.expected.route,
        "route": result.route,
        "status": result.status,
        "action": (result.action or {}).get("name"),
        "expected_action": case.expected.action,
        "risk": result.risk,
        "confidence": result.confidence,
        "reasons": result.reasons,
        **_case_details(runner, agent, thread_id, grade_drafts, grader_model),
    }


def _case_details(runner: Any, agent: str, thread_id: str, grade: bool, grader_model: Any) -> dict[str, Any]:
    """The raw confidence (for calibration) and, when asked, the draft's scores."""
    try:
        values = runner.snapshot(agent, thread_id).values
    except Exception:  # a failed run has no usable state; its routing figures already say so
        return {"confidence_raw": None}
    assessment = values.get("assessment") or {}
    proposal = values.get("proposal") or {}
    details: dict[str, Any] = {"confidence_raw": assessment.get("confidence_raw", assessment.get("confidence"))}
    draft = proposal.get("draft")
    if grade and draft:
        request = values.get("redacted_request") or values.get("request", "")
        evidence = list(values.get("evidence") or [])
        name, args = proposal.get("name"), dict(proposal.get("args") or {})
        details["draft_scores"] = score_draft(
            str(draft),
            request=request,
            evidence=evidence,
            facts=values.get("facts"),
            args=args,
            known=action_statements(name, args, proposal.get("preview")) if name else None,
        )
        if grader_model is not None:
            details["draft_scores_model"] = model_graded(grader_model, str(draft), request=request, evidence=evidence)
    return details


def _summarize_model(per_case: list[dict[str, Any]]) -> dict[str, Any]:
    graded = [c["draft_scores_model"] for c in per_case if c.get("draft_scores_model")]
    ok = [g["scores"] for g in graded if "scores" in g]
    out: dict[str, Any] = {"n": len(ok), "errors": len(graded) - len(ok)}
    for name in SCORERS:
        out[name] = round(sum(s[name] for s in ok) / len(ok), 4) if ok else None
    return out
