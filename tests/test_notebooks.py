"""Every notebook runs from a clean kernel, offline, on the embedded default."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []


def test_notebooks_are_generated_from_their_sources() -> None:
    import subprocess
    import sys

    builder = Path(__file__).resolve().parent.parent / "notebooks" / "build_notebooks.py"
    before = {p.name: nbformat.read(p, as_version=4) for p in NOTEBOOKS}
    subprocess.run([sys.executable, str(builder)], check=True)
    for p in NOTEBOOKS:
        rebuilt = nbformat.read(p, as_version=4)
        assert [c.source for c in rebuilt.cells] == [c.source for c in before[p.name].cells], (
            f"{p.name} was edited by hand"
        )
