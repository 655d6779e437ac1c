"""An agent defined outside the project's folders, registered with HITL_AGENTS, through the real `hitl`.

The module below is written to a temporary folder (not a package of this repository): it builds
its graph from the shared nodes, registers its own action with an executor and an undo, and keeps
its own policy file. `hitl run`, `reviews`, `decide`, `actions` and `agents` work with it, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hitl_core.actions import ASK_REQUESTER

AGENT_MODULE = '''
"""A grants desk: proposes a grant to a team; a grants officer approves it."""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from guardrails.routing import Signal
from hitl_core.actions import ActionSpec, register
from nodes.wiring import AgentNodes, build_agent_graph

NAME = "grants"
POLICY_FILE = Path(__file__).with_name("grants.yaml")
MIGRATIONS = [
    ["CREATE TABLE IF NOT EXISTS outside_grants (thread_id TEXT, team TEXT, amount REAL)"],
    ["ALTER TABLE outside_grants ADD COLUMN paid INTEGER NOT NULL DEFAULT 0"],
]


def SWEEP(tx: Any) -> int:
    """The desk's step in `hitl sweep`: pay out the grants awarded since the last sweep."""
    return tx.rowcount("UPDATE outside_grants SET paid = 1 WHERE paid = 0")


class GrantArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: str = Field(min_length=1, max_length=40)
    amount: float = Field(gt=0, le=100_000)


def _award(tx: Any, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    tx.execute(
        "INSERT INTO outside_grants (thread_id, team, amount) VALUES (:t, :m, :a)",
        {"t": thread_id, "m": args["team"], "a": args["amount"]},
    )
    return {"thread_id": thread_id, "team": args["team"], "amount": args["amount"]}


def _withdraw(tx: Any, effect: dict[str, Any]) -> dict[str, Any]:
    tx.execute("DELETE FROM outside_grants WHERE thread_id = :t", {"t": effect["thread_id"]})
    return {"withdrawn": effect["team"]}


register(ActionSpec("award_grant", "Award a grant to a team", GrantArgs, _award, _withdraw, undo_plan="Withdraw it"))


def investigate(state: Any, runtime: Any) -> dict[str, Any]:
    return {"facts": {}, "evidence": [], "tool_calls": []}


def propose(state: Any, runtime: Any) -> dict[str, Any]:
    context = state.get("context") or {}
    args = {"team": str(context.get("team") or "core"), "amount": float(context.get("amount") or 500)}
    return {
        "proposal": {
            "name": "award_grant",
            "args": args,
            "description": "Award a grant to a team",
            "draft": None,
            "missing": [],
            "model_confidence": 0.9,
            "preview": {"grant": args},
            "alternatives": ["No grant this quarter"],
        }
    }


def signals(state: Any, ctx: Any) -> Any:
    amount = float(((state.get("proposal") or {}).get("args") or {}).get("amount") or 0)
    return dict(state.get("facts") or {}), [Signal("model_estimate", 0.9, "fixed")], [
        Signal("money", min(0.7, amount / 2000), f"grant of {amount:g}")
    ], []


NODES = AgentNodes(investigate=investigate, propose=propose, signals=signals)


def build_graph() -> Any:
    return build_agent_graph(NODES)


def load_context(tx: Any, context: dict[str, Any], requester: str) -> None:
    """The grants desk keeps no records of its own for a request."""
'''

POLICY = """
agent: grants
version: 1
thresholds: {auto_min_confidence: 0.6, auto_max_risk: 0.35, review_min_confidence: 0.3}
review_deadline_minutes: 240
expiry_fallback: reject
max_revisions: 1
confidence_weights: {model_estimate: 0.6, validation: 0.4}
escalation_path:
  - {name: Grants board, roles: [grants_board]}
actions:
  award_grant:
    review: always
    reversible: true
    base_risk: 0.2
    amount_arg: amount
    locked_args: [team]
    tiers:
      - {name: Grants officer, roles: [grants_officer], max_amount: 5000}
"""


@pytest.fixture
def hitl(database_url: str, tmp_path: Path):
    (tmp_path / "outside_grants_agent.py").write_text(textwrap.dedent(AGENT_MODULE))
    (tmp_path / "grants.yaml").write_text(POLICY)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "HITL_TOKEN"}
        env.update(
            {
                "HITL_DATABASE_URL": database_url,
                "HITL_AGENTS": "outside_grants_agent",
                "PYTHONPATH": os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]),
            }
        )
        return subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", *args], env=env, capture_output=True, text=True, timeout=120
        )

    return call


def _json(proc: subprocess.CompletedProcess[str]):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_an_agent_from_outside_the_project_runs_through_the_cli(hitl):
    listed = {a["name"]: a for a in _json(hitl("agents", "--json"))}
    assert {"support", "ops", "compliance", "grants"} <= set(listed)
    assert listed["grants"]["source"] == "plugin"
    assert listed["grants"]["actions"] == sorted(["award_grant", ASK_REQUESTER])  # and the question every policy has
    assert listed["grants"]["roles"] == ["grants_board", "grants_officer"]  # roles of its own, from its policy
    assert listed["grants"]["policy_file"].endswith("grants.yaml")

    _json(hitl("users", "add", "lena", "--role", "grants_officer", "--json"))  # first run: no admin yet
    unknown = hitl("users", "add", "max", "--role", "grants_wizard", "--json")
    assert unknown.returncode == 2 and "unknown role 'grants_wizard'" in unknown.stderr
    assert "grants_officer" in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1
    run = _json(
        hitl(
            "run",
            "grants",
            "Please fund the core team's offsite",
            "--context",
            '{"team": "core", "amount": 800}',
            "--json",
        )
    )
    assert run["status"] == "pending_review", run
    (review_id,) = run["reviews"]
    inbox = _json(hitl("reviews", "--agent", "grants", "--json"))
    assert review_id in [r["id"] for r in inbox]
    refused = hitl("decide", review_id, "edit", "--as", "lena", "--args", '{"team": "mine"}', "--json")
    assert refused.returncode == 2 and "may not change team" in refused.stderr
    decided = _json(hitl("decide", review_id, "approve", "--as", "lena", "--json"))
    assert decided["status"] == "approved" and decided["thread"]["status"] == "completed"
    actions = [a for a in _json(hitl("actions", "--thread", run["thread_id"], "--json")) if a["name"] == "award_grant"]
    assert len(actions) == 1 and actions[0]["args"] == {"team": "core", "amount": 800.0}
    swept = _json(hitl("sweep", "--json"))  # its own table (two migrations) and its own sweep step
    assert swept["steps"]["grants"] == 1 and not swept["errors"]
    assert _json(hitl("sweep", "--json"))["steps"]["grants"] == 0


def test_a_bad_reference_is_one_line(hitl, monkeypatch):
    unknown = hitl("run", "nosuch", "hello", "--json")
    assert unknown.returncode == 2
    assert "unknown agent 'nosuch'" in unknown.stderr and "grants" in unknown.stderr
