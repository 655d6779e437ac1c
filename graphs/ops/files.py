"""Where the ops agent's shipped files live: its policy and its knowledge files, beside its code."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
POLICY_FILE = HERE / "policy.yaml"
KNOWLEDGE = HERE / "knowledge"
