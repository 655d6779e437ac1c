"""`hitl eval-sets`: every set of a manifest in one report, the same figures as `hitl eval`, summed by role."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitl_core.retrieval import read_jsonl
from hitl_runtime.evaluation import evaluate, load_scenarios
from hitl_runtime.evaluation_sets import Targets, load_manifest, meets, set_files
from tests.test_openai_http import _completion, _Server

SCENARIOS = Path(__file__).parent / "scenarios"
FIGURES = ("n", "route_accuracy", "false_auto", "automation_rate", "mistakes", "false_auto_cases")


def _hitl(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _write(path: Path, cases: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))


def _cases(agent: str) -> list[dict[str, Any]]:
    return read_jsonl(SCENARIOS / "shared" / f"{agent}.jsonl")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two agents; a tuning set and a measurement set that each hold one plain question labelled for a person.

    The question completes on its own, so each set has one false auto: only the measurement set's counts.
    """
    folder = tmp_path_factory.mktemp("sets")
    support, ops = _cases("support"), _cases("ops")
    mislabelled = {**support[0], "id": "sup-mislabelled", "expected": {"route": "review"}}
    _write(folder / "tuning" / "support.jsonl", [*support[1:4], mislabelled])
    _write(folder / "tuning" / "ops.jsonl", ops[:3])
    _write(folder / "measured" / "support.jsonl", [*support[4:], {**mislabelled, "id": "sup-mislabelled-2"}])
    _write(folder / "rephrased" / "support.jsonl", support[:3])
    originals = {c["id"] for c in support[:3]}
    paraphrases = [
        p for p in read_jsonl(SCENARIOS / "paraphrases" / "support.jsonl") if p["paraphrase_of"] in originals
    ]
    _write(folder / "rephrased" / "support-paraphrases.jsonl", paraphrases)
    _write(folder / "rephrased" / "ops.jsonl", ops[:3])  # no paraphrases for ops: no run, not its originals
    (folder / "sets.json").write_text(
        json.dumps(
            {
                "agents": ["support", "ops"],
                "sets": [
                    {"name": "tuned", "role": "tuning", "datasets": ["tuning/{agent}.jsonl"]},
                    {"name": "measured", "role": "measurement", "datasets": ["measured/{agent}.jsonl"]},
                    {
                        "name": "rephrased",
                        "role": "measurement",
                        "datasets": ["rephrased/{agent}.jsonl"],
                        "paraphrases": "rephrased/{agent}-paraphrases.jsonl",
                    },
                ],
            }
        )
    )
    return folder / "sets.json"


@pytest.fixture(scope="module")
def report(manifest: Path) -> dict[str, Any]:
    done = _hitl("eval-sets", str(manifest), "--json", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_each_run_has_the_figures_hitl_eval_gives_it(manifest: Path, report: dict[str, Any]) -> None:
    runs = {s["name"]: s["runs"] for s in report["sets"]}
    assert set(runs["tuned"]) == {"support", "ops"} and set(runs["measured"]) == {"support"}  # ops has no file there
    for name, agent in (("tuned", "support"), ("tuned", "ops"), ("measured", "support")):
        folder = "tuning" if name == "tuned" else name
        expected = evaluate(agent, load_scenarios(manifest.parent / folder / f"{agent}.jsonl"), grade_drafts=False)
        assert {k: runs[name][agent][k] for k in FIGURES} == {k: expected[k] for k in FIGURES}, (name, agent)
    assert runs["tuned"]["support"]["false_auto_cases"] == ["sup-mislabelled"]
    assert runs["measured"]["support"]["false_auto_cases"] == ["sup-mislabelled-2"]
    assert set(runs["rephrased"]) == {"support"}  # ops has cases there but no paraphrases of them


def test_a_set_with_paraphrases_is_reported_by_its_paraphrases(manifest: Path, report: dict[str, Any]) -> None:
    figure = next(s for s in report["sets"] if s["name"] == "rephrased")["runs"]["support"]
    folder = manifest.parent / "rephrased"
    expected = evaluate(
        "support",
        load_scenarios(folder / "support.jsonl"),
        grade_drafts=False,
        paraphrases=load_scenarios(folder / "support-paraphrases.jsonl"),
    )
    assert figure["n"] == expected["paraphrases"]["n"] == 9
    assert {k: figure[k] for k in FIGURES} == {k: expected["paraphrases"][k] for k in FIGURES}
    assert figure["paraphrase_agreement"] == expected["paraphrase_agreement"]
    assert {k: figure["originals"][k] for k in FIGURES} == {k: expected[k] for k in FIGURES}


def test_false_autos_and_targets_are_summed_over_the_measurement_sets_only(
    manifest: Path, report: dict[str, Any]
) -> None:
    runs = {s["name"]: s["runs"] for s in report["sets"]}
    measured = [runs["measured"]["support"], runs["rephrased"]["support"]]
    assert report["false_auto_on_measurement_sets"] == {
        "support": sum(r["false_auto"] for r in measured),
        "ops": 0,
        "total": sum(r["false_auto"] for r in measured),
    }
    # The mislabelled question of the measurement set counts; the tuning set's does not.
    assert report["false_auto_on_measurement_sets"]["support"] >= 1
    assert report["measurement_runs_meeting_targets"]["support"]["runs"] == 2
    assert report["measurement_runs_meeting_targets"]["ops"] == {"met": 0, "runs": 0}
    assert not meets(runs["measured"]["support"], Targets())  # a run with a false auto misses the targets
    assert report["measurement_runs_meeting_targets"]["support"]["met"] == sum(meets(r, Targets()) for r in measured)
    # All measurement sets as one run: the same figures hitl eval gives their cases together.
    together = evaluate(
        "support",
        load_scenarios(manifest.parent / "measured" / "support.jsonl")
        + load_scenarios(manifest.parent / "rephrased" / "support-paraphrases.jsonl"),
        grade_drafts=False,
    )
    summed = report["measurement_sums"]["support"]
    assert summed == {k: together[k] for k in ("n", "route_accuracy", "false_auto", "automation_rate")}
    assert report["measurement_sums"]["ops"] == {
        "n": 0,
        "route_accuracy": None,
        "false_auto": 0,
        "automation_rate": None,
    }


def test_the_text_report_is_the_readme_table(manifest: Path, report: dict[str, Any]) -> None:
    done = _hitl("eval-sets", str(manifest), "--agent", "support", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "| set | role | support |"
    measured = report["sets"][1]["runs"]["support"]
    assert (
        f"| measured | measurement | {measured['route_accuracy']} / {measured['false_auto']} / "
        f"{measured['automation_rate']} |"
    ) in lines
    assert any(line.startswith("| rephrased | measurement |") and "(agreement " in line for line in lines)
    assert any(line.startswith("false autos on the measurement sets: support ") for line in lines)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"agents": ["support"], "sets": []}', "sets"),
        ('{"agents": ["support"], "sets": [{"name": "x", "role": "tuned", "datasets": ["a"]}]}', "role"),
        (
            '{"agents": ["nobody"], "sets": [{"name": "x", "role": "tuning", "datasets": ["a/{agent}.jsonl"]}]}',
            "nobody",
        ),
        (
            '{"agents": ["support"], "sets": [{"name": "x", "role": "tuning", "datasets": ["none/{agent}.jsonl"]}]}',
            "no set",
        ),
        (
            '{"agents": ["support"], "sets": [{"name": "x", "role": "tuning", "datasets": ["bad/{agent}.jsonl"]}]}',
            "line 2",
        ),
        (
            '{"agents": ["support"], "sets": [{"name": "x", "role": "measurement", "datasets": ["good/{agent}.jsonl"], '
            '"paraphrases": "good/{agent}-p.jsonl"}]}',
            "paraphrase_of",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str, message: str) -> None:
    _write(tmp_path / "bad" / "support.jsonl", _cases("support")[:1])
    _write(tmp_path / "good" / "support.jsonl", _cases("support")[:1])  # paraphrases without paraphrase_of:
    _write(tmp_path / "good" / "support-p.jsonl", _cases("support")[1:2])
    with (tmp_path / "bad" / "support.jsonl").open("a") as f:
        f.write('{"id": "x"}\n')
    (tmp_path / "sets.json").write_text(content)
    done = _hitl("eval-sets", str(tmp_path / "sets.json"))
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("hitl: model:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert done.stdout == ""


def test_the_shipped_manifest_names_every_scenario_folder_and_its_files_exist() -> None:
    manifest = load_manifest(SCENARIOS / "sets.json")
    named = {Path(p).parts[0] for s in manifest.sets for p in [*s.datasets, s.paraphrases or ""] if "/" in p}
    folders = {p.name for p in SCENARIOS.iterdir() if p.is_dir()}
    assert folders <= named, f"scenario folders missing from sets.json: {sorted(folders - named)}"
    for scenario_set in manifest.sets:
        found = {agent: set_files(SCENARIOS, scenario_set, agent) for agent in manifest.agents}
        assert any(datasets for datasets, _ in found.values()), scenario_set.name
        if scenario_set.paraphrases:
            assert all(paraphrases for _, paraphrases in found.values()), scenario_set.name
    roles = {s.name: s.role for s in manifest.sets}
    assert all(roles[f"held-out v{i}"] == "measurement" for i in range(3, 15))
    assert roles["held-out v2"] == "tuning" and roles["written blind"] == "tuning"


@pytest.mark.network_model
def test_with_openai_base_url_the_runs_ask_the_served_model_over_http(tmp_path: Path) -> None:
    """The report measures whatever model the settings name: here a local OpenAI-compatible server."""
    server = _Server()
    try:
        server.reply = _completion(
            "reply", {"customer_id": "c-100", "message": "Hello from the served model."}, "CONFIDENCE: 0.95"
        )
        questions = [c for c in _cases("support") if c["expected"]["route"] == "auto"][:2]
        _write(tmp_path / "served" / "support.jsonl", questions)
        (tmp_path / "sets.json").write_text(
            json.dumps(
                {
                    "agents": ["support"],
                    "sets": [{"name": "s", "role": "measurement", "datasets": ["served/{agent}.jsonl"]}],
                }
            )
        )
        done = _hitl(
            "eval-sets",
            str(tmp_path / "sets.json"),
            "--json",
            env_extra={"OPENAI_BASE_URL": server.url, "HITL_MODEL": "local-model"},
        )
        assert done.returncode == 0, done.stderr
        assert "local-model" in done.stderr  # the model in use is logged, not the offline one
        figure = json.loads(done.stdout)["sets"][0]["runs"]["support"]
        assert figure["n"] == 2
        asked = [r for r in server.requests if r["path"] == "/v1/chat/completions"]
        assert len(asked) >= 2 and {r["body"]["model"] for r in asked} == {"local-model"}
        assert {r["body"]["messages"][-1]["content"] for r in asked} >= {c["message"] for c in questions}
    finally:
        server.httpd.shutdown()


def test_the_intent_ceiling_reads_routine_requests_as_routine_and_gives_the_rest_its_reasons(tmp_path: Path) -> None:
    """scripts/intent_ceiling.py: today's automation beside the one a perfect intent reading would give."""
    routine = [c for c in _cases("support") if c["expected"]["route"] == "auto"]
    asks = [  # labelled routine, worded so that today's reading sends them to a person
        {**routine[0], "id": "ask-1", "message": "Close my account and delete everything you hold on me."},
        {**routine[0], "id": "ask-2", "message": "Refund my last order to a different card, no questions asked."},
    ]
    _write(tmp_path / "m" / "support.jsonl", [*routine, *asks])
    (tmp_path / "sets.json").write_text(
        json.dumps(
            {"agents": ["support"], "sets": [{"name": "m", "role": "measurement", "datasets": ["m/{agent}.jsonl"]}]}
        )
    )
    script = [sys.executable, str(Path(__file__).parents[1] / "scripts" / "intent_ceiling.py")]
    done = subprocess.run([*script, str(tmp_path / "sets.json"), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["set"] == "m" and row["agent"] == "support" and row["n"] == len(routine) + 2
    today = evaluate("support", load_scenarios(tmp_path / "m" / "support.jsonl"), grade_drafts=False)
    assert row["automation"] == today["automation_rate"]  # the first figure is as read today
    assert row["automation_with_perfect_intents"] > row["automation"]
    assert any(r.startswith("intent_") for r in row["reasons_today"])
    assert not any(r.startswith("intent_") for r in row["still_to_a_person"])

    bad = subprocess.run([*script, str(tmp_path / "sets.json"), "--agent", "travel"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "travel" in bad.stderr


def test_the_intent_ceiling_splits_routine_requests_by_what_the_knowledge_answers(tmp_path: Path) -> None:
    """`--knowledge FILE`: automation per verdict of a judgement of whether the knowledge answers each request."""
    routine = [c for c in read_jsonl(SCENARIOS / "support.jsonl") if c["expected"]["route"] == "auto"][:6]
    routine[1] = {**routine[1], "message": "Close my account and delete everything you hold on me."}  # to a person
    _write(tmp_path / "m" / "support.jsonl", routine)
    (tmp_path / "sets.json").write_text(
        json.dumps(
            {"agents": ["support"], "sets": [{"name": "m", "role": "measurement", "datasets": ["m/{agent}.jsonl"]}]}
        )
    )
    verdicts = ["answered", "answered", "not answered", "partly", "answered", "not answered"]
    judged = [
        {"id": c["id"], "kind": "task" if i == 4 else "knowledge", "verdict": v, "sources": [], "why": "test"}
        for i, (c, v) in enumerate(zip(routine, verdicts, strict=True))
    ]
    _write(tmp_path / "judged.jsonl", judged)
    script = [
        sys.executable,
        str(Path(__file__).parents[1] / "scripts" / "intent_ceiling.py"),
        str(tmp_path / "sets.json"),
    ]
    done = subprocess.run(
        [*script, "--knowledge", str(tmp_path / "judged.jsonl"), "--json"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = {row["set"]: row for row in json.loads(done.stdout)}
    assert {name: row["n"] for name, row in rows.items()} == {
        "answered by the knowledge": 2,
        "partly answered": 1,
        "not answered by the knowledge": 2,
        "a task, no knowledge needed": 1,
    }
    today = evaluate("support", load_scenarios(tmp_path / "m" / "support.jsonl"), grade_drafts=False)
    auto = {c["id"] for c in today["per_case"] if c["route"] == "auto"}
    answered = [j["id"] for j in judged if j["kind"] == "knowledge" and j["verdict"] == "answered"]
    assert rows["answered by the knowledge"]["automation"] == round(len(auto & set(answered)) / 2, 4) == 0.5
    assert rows["answered by the knowledge"]["automation_with_perfect_intents"] == 1.0

    _write(tmp_path / "bad.jsonl", [{"id": "nowhere", "kind": "knowledge", "verdict": "answered"}])
    bad = subprocess.run([*script, "--knowledge", str(tmp_path / "bad.jsonl")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nowhere" in bad.stderr
    _write(tmp_path / "bad.jsonl", [{"id": routine[0]["id"], "kind": "knowledge", "verdict": "maybe"}])
    bad = subprocess.run([*script, "--knowledge", str(tmp_path / "bad.jsonl")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "maybe" in bad.stderr


def test_the_example_curve_cuts_each_intent_s_examples_and_sums_the_measurement_sets(tmp_path: Path) -> None:
    """scripts/example_curve.py: a cut keeps each intent's share of its examples; at the full share the figures are eval's."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
    try:
        from example_curve import MIN_EXAMPLES, subsampled
    finally:
        sys.path.pop(0)
    from hitl_runtime.agents import policy_file

    text = policy_file("support").read_text(encoding="utf-8")
    full = yaml.safe_load(text)["intents"]
    cut = subsampled(text, 0.1, random.Random(1))["intents"]
    for name, intent in full.items():
        kept = cut[name]["examples"]
        assert kept == [e for e in intent["examples"] if e in kept]  # a subset, in the policy's order
        assert len(kept) == min(len(intent["examples"]), max(MIN_EXAMPLES, round(len(intent["examples"]) * 0.1)))

    cases = _cases("support") + [c for c in read_jsonl(SCENARIOS / "heldout_v15" / "support.jsonl")][:12]
    _write(tmp_path / "m" / "support.jsonl", cases)
    (tmp_path / "sets.json").write_text(
        json.dumps(
            {"agents": ["support"], "sets": [{"name": "m", "role": "measurement", "datasets": ["m/{agent}.jsonl"]}]}
        )
    )
    script = [
        sys.executable,
        str(Path(__file__).parents[1] / "scripts" / "example_curve.py"),
        str(tmp_path / "sets.json"),
    ]
    done = subprocess.run([*script, "--fraction", "1", "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    today = evaluate("support", load_scenarios(tmp_path / "m" / "support.jsonl"), grade_drafts=False)
    assert (row["fraction"], row["n"]) == (1.0, len(cases))
    assert (row["route_accuracy"], row["false_auto"], row["automation_rate"]) == (
        today["route_accuracy"],
        today["false_auto"],
        today["automation_rate"],
    )

    bad = subprocess.run([*script, "--fraction", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "fraction" in bad.stderr
