"""Checkpoints never run code on load: strict msgpack, no pickle.

Each refusal has a control: the very same crafted bytes, loaded by a permissive LangGraph
serializer, do run their code (a marker file appears). So the strict assertions cannot pass merely
because the payload is inert, and they check the effect (no marker file), not the absence of an error.
"""

from __future__ import annotations

import os
import pickle
import shlex
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from langgraph.checkpoint.serde.jsonplus import (
    EXT_CONSTRUCTOR_KW_ARGS,
    EXT_CONSTRUCTOR_POS_ARGS,
    EXT_CONSTRUCTOR_SINGLE_ARG,
    JsonPlusSerializer,
)

from hitl_core import checkpointing


def _command(marker: Path) -> str:
    return f"touch {shlex.quote(str(marker))}"


def _argument(code: int, command: str) -> Any:
    """os.system's argument in the shape each constructor extension passes it."""
    shapes = {EXT_CONSTRUCTOR_SINGLE_ARG: command, EXT_CONSTRUCTOR_POS_ARGS: [command]}
    return shapes.get(code, {"command": command})


def _crafted(code: int, command: str) -> bytes:
    """A msgpack checkpoint blob whose extension asks the loader to call os.system(command)."""
    call = ormsgpack.Ext(code, ormsgpack.packb(("os", "system", _argument(code, command))))
    return ormsgpack.packb({"channel_values": {"reply": call}})


class _RunsOnUnpickle:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


PERMISSIVE = {
    "all-modules": lambda: JsonPlusSerializer(allowed_msgpack_modules=True),
    "os.system-allowed": lambda: JsonPlusSerializer(allowed_msgpack_modules=[("os", "system")]),
}
EXTENSIONS = {"single-arg": EXT_CONSTRUCTOR_SINGLE_ARG, "pos-args": EXT_CONSTRUCTOR_POS_ARGS}
EXTENSIONS["kw-args"] = EXT_CONSTRUCTOR_KW_ARGS


@pytest.mark.parametrize("permissive", PERMISSIVE.values(), ids=PERMISSIVE.keys())
@pytest.mark.parametrize("code", EXTENSIONS.values(), ids=EXTENSIONS.keys())
def test_crafted_checkpoint_runs_code_only_when_permissive(tmp_path: Path, code: int, permissive: Any) -> None:
    marker = tmp_path / "pwned"
    blob = ("msgpack", _crafted(code, _command(marker)))

    # Control: a permissive serializer executes the crafted constructor.
    permissive().loads_typed(blob)
    assert marker.exists(), "control failed: the crafted checkpoint should run os.system under a permissive serializer"
    marker.unlink()

    # The project's serializer hands the arguments back as plain data and runs nothing.
    loaded = checkpointing.strict_serializer().loads_typed(blob)
    assert not marker.exists(), "strict_serializer() ran code from a checkpoint"
    assert loaded == {"channel_values": {"reply": _argument(code, _command(marker))}}


def test_the_checkpointer_loads_with_the_strict_serializer(tmp_path: Path) -> None:
    from hitl_core.db import Database

    marker = tmp_path / "pwned"
    blob = ("msgpack", _crafted(EXT_CONSTRUCTOR_SINGLE_ARG, _command(marker)))
    saver = checkpointing.make_checkpointer(Database(f"sqlite:///{tmp_path}/hitl.db"), lease_ttl=30)
    saver.serde.loads_typed(blob)
    assert not marker.exists(), "the checkpointer's serializer ran code from a checkpoint"


def test_pickle_runs_code_only_when_permissive(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    blob = ("pickle", pickle.dumps(_RunsOnUnpickle(_command(marker))))

    # Control: LangGraph's pickle fallback unpickles, and unpickling runs the payload.
    JsonPlusSerializer(pickle_fallback=True).loads_typed(blob)
    assert marker.exists(), "control failed: the crafted pickle should run os.system under pickle_fallback=True"
    marker.unlink()

    with pytest.raises(NotImplementedError):
        checkpointing.strict_serializer().loads_typed(blob)
    assert not marker.exists(), "strict_serializer() unpickled a checkpoint"


def test_strict_mode_is_on_for_the_project() -> None:
    from langgraph.checkpoint.serde import _msgpack

    assert os.environ["LANGGRAPH_STRICT_MSGPACK"] == "true"
    assert _msgpack.STRICT_MSGPACK_ENABLED


def test_secret_shaped_tool_output_stays_data() -> None:
    serde = checkpointing.strict_serializer()
    shaped = {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}
    assert serde.loads_typed(serde.dumps_typed({"tool_output": shaped})) == {"tool_output": shaped}
