"""Every notebook runs from a clean kernel, offline, on the embedded default.

The notebooks read their scenario sets from `HITL_SCENARIO_DIRS`, as a researcher points them at
their own; here they read a sample of the repository's sets (every route of every agent kept), so
each cell runs as written on fewer cases. Whether the sets route as expected is the agents' tests'
job, not this one's.
"""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from hitl_core.retrieval import read_jsonl

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
BUILDER = NOTEBOOK_DIR / "build_notebooks.py"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SAMPLE_EVERY = 3


def sample_sets(folder: Path) -> Path:
    """The top-level scenario sets, every third case of each agent and route (each route keeps one at least)."""
    folder.mkdir()
    for path in sorted(SCENARIOS.glob("*.jsonl")):
        cases = read_jsonl(path)
        seen: dict[tuple[str, str], int] = {}
        kept = []
        for case in cases:
            key = (case["agent"], case["expected"]["route"])
            seen[key] = seen.get(key, -1) + 1
            if seen[key] % SAMPLE_EVERY == 0:
                kept.append(case)
        (folder / path.name).write_text("".join(json.dumps(c) + "\n" for c in kept), encoding="utf-8")
    return folder


def test_the_sample_keeps_every_route_of_every_set_and_fewer_cases(tmp_path: Path) -> None:
    sample = sample_sets(tmp_path / "sample")
    for path in sorted(SCENARIOS.glob("*.jsonl")):
        full, kept = read_jsonl(path), read_jsonl(sample / path.name)
        assert {(c["agent"], c["expected"]["route"]) for c in kept} == {
            (c["agent"], c["expected"]["route"]) for c in full
        }
        assert len(full) / 4 < len(kept) < len(full) / 2, path.name
        assert all(case in full for case in kept)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits this environment: the notebooks read the sample, as they would a researcher's sets.
    monkeypatch.setenv("HITL_SCENARIO_DIRS", str(sample_sets(tmp_path / "scenarios")))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []


REGENERATE = "python notebooks/build_notebooks.py"


def _drift(committed: Path, generated: Path) -> list[str]:
    """How the committed notebooks differ from freshly generated ones (empty when they match)."""
    problems = []
    ours = {p.name for p in committed.glob("*.ipynb")}
    built = {p.name for p in generated.glob("*.ipynb")}
    problems += [f"{name} is committed but build_notebooks.py does not generate it" for name in sorted(ours - built)]
    problems += [f"{name} is generated but not committed" for name in sorted(built - ours)]
    for name in sorted(ours & built):
        have = (committed / name).read_text(encoding="utf-8").splitlines()
        want = (generated / name).read_text(encoding="utf-8").splitlines()
        if have != want:
            diff = difflib.unified_diff(want, have, f"generated/{name}", f"notebooks/{name}", lineterm="", n=1)
            problems.append(f"{name} differs from what build_notebooks.py generates:\n" + "\n".join(list(diff)[:20]))
    return problems


def test_notebooks_are_generated_from_their_sources(tmp_path: Path) -> None:
    """The committed notebooks are exactly what the builder writes; the committed files are only read."""
    generated = tmp_path / "generated"
    generated.mkdir()
    subprocess.run([sys.executable, str(BUILDER), str(generated)], check=True)

    # Control: a hand edit to a generated notebook is reported.
    edited = tmp_path / "edited"
    shutil.copytree(generated, edited)
    first = sorted(edited.glob("*.ipynb"))[0]
    notebook = nbformat.read(first, as_version=4)
    notebook.cells[0].source += "\nedited by hand"
    nbformat.write(notebook, first)
    assert [p.split(" ")[0] for p in _drift(edited, generated)] == [first.name]

    problems = _drift(NOTEBOOK_DIR, generated)
    assert not problems, (
        "the committed notebooks are out of date with notebooks/build_notebooks.py; regenerate them with "
        f"`{REGENERATE}` (edit the cells there, not in the .ipynb files):\n\n" + "\n\n".join(problems)
    )
