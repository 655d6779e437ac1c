"""Every notebook runs from a clean kernel, offline, on the embedded default."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
BUILDER = NOTEBOOK_DIR / "build_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
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
