"""How routing on the measurement sets grows with the intents' labelled examples: a learning curve.

An analysis, not a feature. For each fraction, every intent of every agent keeps that share of its
examples (at least five, drawn with a fixed seed), the policies are written to a scratch folder named
by `HITL_POLICY_DIR`, and `hitl eval-sets` runs the manifest. It prints, per fraction and agent, route
accuracy, false autos and automation over all the measurement sets together. A curve still rising at
the full set says the intent reading is short of examples rather than of capacity. Usage:

    .venv/bin/python scripts/example_curve.py tests/scenarios/sets.json \\
        [--fraction 0.25 --fraction 0.5 --fraction 1] [--seed 1] [--agent A] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

MIN_EXAMPLES = 5
"""An intent keeps at least this many examples, however small the fraction."""


def subsampled(policy_text: str, fraction: float, rng: random.Random) -> dict[str, Any]:
    """The policy with each intent's examples cut to `fraction` of them, in the policy's order.

    The order is kept so that the whole bank is the same collection as the shipped policy's, whose
    embeddings are already in the cache: the full share is not embedded again.
    """
    policy = yaml.safe_load(policy_text)
    for intent in (policy.get("intents") or {}).values():
        examples = intent.get("examples") or []
        keep = min(len(examples), max(MIN_EXAMPLES, round(len(examples) * fraction)))
        intent["examples"] = [examples[i] for i in sorted(rng.sample(range(len(examples)), keep))]
    return dict(policy)


def main(argv: list[str] | None = None) -> int:
    """Print the summed measurement figures per fraction of the examples kept."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--fraction", type=float, action="append", help="share of examples kept (repeat)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--agent", action="append", help="only this agent (repeat); default: the manifest's")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    from hitl_core.errors import BadInput
    from hitl_runtime.agents import policy_file
    from hitl_runtime.evaluation_sets import load_manifest

    fractions = args.fraction or [0.25, 0.5, 1.0]
    try:
        bad = [f for f in fractions if not 0 < f <= 1]
        if bad:
            raise BadInput(f"a fraction must be above 0 and at most 1 (got {', '.join(map(str, bad))})")
        agents = args.agent or load_manifest(args.manifest).agents
        files = {agent: policy_file(agent) for agent in agents}
        missing = [agent for agent, path in files.items() if path is None]
        if missing:
            raise BadInput(f"no policy file to cut for {', '.join(missing)}")
        policies = {agent: path.read_text(encoding="utf-8") for agent, path in files.items() if path is not None}
    except BadInput as exc:
        print(f"example_curve: {exc}", file=sys.stderr)
        return 2
    rows = []
    for fraction in fractions:
        with tempfile.TemporaryDirectory() as folder:
            for agent, text in policies.items():
                policy = subsampled(text, fraction, random.Random(f"{args.seed}-{agent}"))
                (Path(folder) / f"{agent}.yaml").write_text(yaml.safe_dump(policy, sort_keys=False, allow_unicode=True))
            command = [sys.executable, "-m", "hitl_cli.main", "eval-sets", str(args.manifest), "--json"]
            command += [option for agent in agents for option in ("--agent", agent)]
            done = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, "HITL_POLICY_DIR": folder}, check=False
            )
        if done.returncode != 0:
            print(
                f"example_curve: eval-sets failed at fraction {fraction}: {done.stderr.strip()[-300:]}", file=sys.stderr
            )
            return 1
        report = json.loads(done.stdout)
        rows += [{"fraction": fraction, "agent": agent, **report["measurement_sums"][agent]} for agent in agents]
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| examples kept | agent | measurement cases | route accuracy | false autos | automation |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['fraction']:g} | {row['agent']} | {row['n']} | {row['route_accuracy']} | {row['false_auto']} | "
            f"{row['automation_rate']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
