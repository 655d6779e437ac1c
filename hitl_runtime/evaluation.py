"""`hitl eval`: run scenario files through an agent and score its routing.

Each evaluation runs in a fresh, throwaway SQLite database so that results are reproducible and
the configured database (and its simulated systems) is never touched.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hitl_runtime.errors import BadInput
from hitl_runtime.settings import Settings

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


def load_scenarios(path: Path, agent: str | None = None) -> list[Scenario]:
    """Parse a JSON-lines file; a bad line fails with its number and the field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInput(f"cannot read dataset {path}: {exc.strerror}") from None
    cases: list[Scenario] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = Scenario.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadInput(f"{path.name} line {number}: {where}: {first['msg']}") from None
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


def evaluate(
    agent: str,
    scenarios: list[Scenario],
    *,
    settings: Settings | None = None,
    runner_factory: Callable[[Settings], Any] | None = None,
) -> dict[str, Any]:
    """Run every case on a fresh database and score the routes."""
    from hitl_runtime.runner import Runner

    base = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="hitl-eval-") as folder:
        eval_settings = Settings(
            database_url=f"sqlite:///{folder}/eval.db",
            openai_api_key=base.openai_api_key,
            openai_base_url=base.openai_base_url,
            model_name=base.model_name,
        )
        runner = (runner_factory or Runner)(eval_settings)
        try:
            per_case = []
            for case in scenarios:
                result = runner.run(
                    agent, case.message, thread_id=f"eval-{case.id}", user=f"requester-{case.id}", context=case.context
                )
                per_case.append(
                    {
                        "id": case.id,
                        "expected_route": case.expected.route,
                        "route": result.route,
                        "status": result.status,
                        "action": (result.action or {}).get("name"),
                        "expected_action": case.expected.action,
                        "risk": result.risk,
                        "confidence": result.confidence,
                        "reasons": result.reasons,
                    }
                )
        finally:
            runner.close()
    return {"agent": agent, **score(per_case), "per_case": per_case}
