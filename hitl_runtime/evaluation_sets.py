"""`hitl eval-sets`: every scenario set of a manifest, for every agent, in one report.

A release is judged on many sets at once, and on two kinds: tuning sets, read while the rules were
written, and measurement sets, run only for aggregate figures. The manifest says which is which, so
the report can add up what matters (false autos on the sets never tuned on, runs that meet the
targets) and the same command gives the same table on any machine, or against another model
(`OPENAI_BASE_URL`). Each run is `hitl eval` on a fresh database, in a pool of processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hitl_core.errors import BadInput
from hitl_core.settings import Settings
from hitl_runtime.agents import agent_module
from hitl_runtime.evaluation import Scenario, evaluate, load_scenarios, paraphrase_of

Run = tuple[str, str, list[Scenario], list[Scenario] | None, Settings | None]
"""One run: set name, agent, cases, paraphrases, and the settings of the model to run them with."""
HEADLINE = ("n", "route_accuracy", "false_auto", "automation_rate", "confusion", "mistakes", "false_auto_cases")


class Targets(BaseModel):
    """What a measurement run must reach: at most this many false autos, at least these rates."""

    model_config = ConfigDict(extra="forbid")
    false_auto: int = Field(default=0, ge=0)
    route_accuracy: float = Field(default=0.9, ge=0, le=1)
    automation_rate: float = Field(default=0.9, ge=0, le=1)


class ScenarioSet(BaseModel):
    """One set: its files (`{agent}` in a path is the agent's name), its role, its paraphrases."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Literal["tuning", "measurement"]
    datasets: list[str] = Field(min_length=1)
    paraphrases: str | None = None
    note: str = ""


class Manifest(BaseModel):
    """The sets a release is judged on; paths are relative to the manifest's folder."""

    model_config = ConfigDict(extra="forbid")
    agents: list[str] = Field(min_length=1)
    targets: Targets = Field(default_factory=Targets)
    sets: list[ScenarioSet] = Field(min_length=1)


def load_manifest(path: Path) -> Manifest:
    """Parse a manifest; a bad one fails with one line naming the field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"cannot read manifest {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path.name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"{path.name}: {where}: {first['msg']}") from None
    names = [s.name for s in manifest.sets]
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise BadInput(f"{path.name}: the same set name twice: {', '.join(repeated)}")
    return manifest


def set_files(folder: Path, scenario_set: ScenarioSet, agent: str) -> tuple[list[Path], Path | None]:
    """The set's files for one agent: those that exist (a set may have none for an agent), and its paraphrases.

    A set judged by its paraphrases has no files for an agent without them: its originals alone are
    not what the set measures (they are usually tuning cases).
    """
    datasets = [p for p in (folder / d.format(agent=agent) for d in scenario_set.datasets) if p.is_file()]
    if not scenario_set.paraphrases:
        return datasets, None
    paraphrases = folder / scenario_set.paraphrases.format(agent=agent)
    return (datasets, paraphrases) if paraphrases.is_file() else ([], None)


def set_cases(folder: Path, scenario_set: ScenarioSet, agent: str) -> tuple[list[Scenario], list[Scenario] | None]:
    """The set's cases for one agent (none when it has no files for the agent), and its paraphrases."""
    datasets, paraphrases = set_files(folder, scenario_set, agent)
    cases = [case for path in datasets for case in load_scenarios(path, agent)]
    if paraphrases is None:
        return cases, None
    rephrased = load_scenarios(paraphrases, agent)
    if not any(paraphrase_of(case) for case in rephrased):
        raise BadInput(f"{paraphrases.name}: no case says which it rephrases (paraphrase_of)")
    return cases, rephrased


def evaluate_sets(
    manifest_path: Path, agents: list[str] | None = None, jobs: int | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Run every set of the manifest for each agent and add up the figures by role.

    Every file is read before any run starts, so a bad case stops the report at once. A set with
    paraphrases is reported by its paraphrases' figures, with their agreement, as `hitl eval` gives them.
    """
    manifest = load_manifest(manifest_path)
    chosen = agents or manifest.agents
    for agent in chosen:
        agent_module(agent)  # an unknown agent is bad input before anything is read
    runs: list[Run] = []
    for scenario_set in manifest.sets:
        for agent in chosen:
            cases, rephrased = set_cases(manifest_path.parent, scenario_set, agent)
            if cases:
                runs.append((scenario_set.name, agent, cases, rephrased, settings))
    if not runs:
        raise BadInput(f"{manifest_path.name}: no set has a file for {', '.join(chosen)}")
    workers = max(1, min(jobs or os.cpu_count() or 1, len(runs)))
    # Spawned, not forked: each run builds its own runner, and a fork would copy the parent's threads' locks.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        figures = list(pool.map(_run, runs))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for (name, agent, *_), figure in zip(runs, figures, strict=True):
        results.setdefault(name, {})[agent] = figure
    return _report(manifest, chosen, results)


def _run(run: Run) -> dict[str, Any]:
    _, agent, cases, paraphrases, settings = run
    result = evaluate(agent, cases, settings=settings, grade_drafts=False, paraphrases=paraphrases)
    originals = {key: result[key] for key in HEADLINE}
    if paraphrases is None:
        return originals
    rephrased = result["paraphrases"]
    return {
        **{key: rephrased.get(key) for key in HEADLINE},
        "paraphrase_agreement": result["paraphrase_agreement"],
        "disagreeing_cases": rephrased["disagreeing_cases"],
        "originals": originals,
    }


def _report(manifest: Manifest, agents: list[str], results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Every set's runs; over the measurement sets only, their sums, the false autos and the runs meeting the targets."""
    targets = manifest.targets
    sets = [{"name": s.name, "role": s.role, "note": s.note, "runs": results.get(s.name, {})} for s in manifest.sets]
    measurement = [results.get(s.name, {}) for s in manifest.sets if s.role == "measurement"]
    measured = {agent: [runs[agent] for runs in measurement if agent in runs] for agent in agents}
    sums = {agent: _summed(figures) for agent, figures in measured.items()}
    return {
        "agents": agents,
        "targets": targets.model_dump(),
        "sets": sets,
        "false_auto_on_measurement_sets": {
            **{agent: summed["false_auto"] for agent, summed in sums.items()},
            "total": sum(summed["false_auto"] for summed in sums.values()),
        },
        "measurement_runs_meeting_targets": {
            agent: {"met": sum(meets(f, targets) for f in figures), "runs": len(figures)}
            for agent, figures in measured.items()
        },
        "measurement_sums": sums,
    }


def _summed(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' figures as one run over all their cases: accuracy and automation from the summed confusions."""
    n = correct = false_auto = routine = automated = 0
    for figure in figures:
        confusion = figure["confusion"]
        n += figure["n"]
        correct += sum(row.get(route, 0) for route, row in confusion.items())
        false_auto += int(figure["false_auto"] or 0)
        routine += sum(confusion.get("auto", {}).values())
        automated += confusion.get("auto", {}).get("auto", 0)
    return {
        "n": n,
        "route_accuracy": round(correct / n, 4) if n else None,
        "false_auto": false_auto,
        "automation_rate": round(automated / routine, 4) if routine else None,
    }


def meets(figure: dict[str, Any], targets: Targets) -> bool:
    """Whether one run reaches the targets (a run without routine cases has no automation rate to miss)."""
    automation = figure.get("automation_rate")
    return (
        int(figure["false_auto"] or 0) <= targets.false_auto
        and float(figure["route_accuracy"]) >= targets.route_accuracy
        and (automation is None or float(automation) >= targets.automation_rate)
    )


def as_table(report: dict[str, Any]) -> str:
    """The report as the README's Markdown table (accuracy / false autos / automation), then the sums."""
    agents = report["agents"]
    lines = ["| set | role | " + " | ".join(agents) + " |", "| --- | --- |" + " --- |" * len(agents)]
    for scenario_set in report["sets"]:
        cells = []
        for agent in agents:
            figure = scenario_set["runs"].get(agent)
            if figure is None:
                cells.append("no set")
                continue
            cell = f"{figure['route_accuracy']} / {figure['false_auto']} / {figure['automation_rate']}"
            if "paraphrase_agreement" in figure:
                cell += f" (agreement {figure['paraphrase_agreement']})"
            cells.append(cell)
        lines.append(f"| {scenario_set['name']} | {scenario_set['role']} | " + " | ".join(cells) + " |")
    false_autos = report["false_auto_on_measurement_sets"]
    meeting = report["measurement_runs_meeting_targets"]
    targets = report["targets"]
    lines += [
        "",
        "false autos on the measurement sets: "
        + ", ".join(f"{agent} {false_autos[agent]}" for agent in agents)
        + f" (total {false_autos['total']})",
        f"measurement runs meeting the targets (false autos at most {targets['false_auto']}, route accuracy "
        f"at least {targets['route_accuracy']}, automation at least {targets['automation_rate']}): "
        + ", ".join(f"{agent} {meeting[agent]['met']} of {meeting[agent]['runs']}" for agent in agents),
        "all measurement sets as one (accuracy / false autos / automation): "
        + ", ".join(
            f"{agent} {summed['route_accuracy']} / {summed['false_auto']} / {summed['automation_rate']} (n {summed['n']})"
            for agent, summed in report["measurement_sums"].items()
        ),
    ]
    return "\n".join(lines)
