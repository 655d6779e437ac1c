"""Checkpoints never run code on load: strict msgpack, no pickle."""

from __future__ import annotations

import contextlib

import ormsgpack
import pytest

from hitl_runtime.checkpointing import strict_serializer


def _crafted(tmp_path) -> bytes:
    # An msgpack extension that, in permissive mode, would import os.system and call it.
    payload = ormsgpack.packb(("os", "system", f"touch {tmp_path}/pwned"))
    return ormsgpack.packb(ormsgpack.Ext(0, payload))


def test_crafted_constructor_does_not_run(tmp_path):
    serde = strict_serializer()
    with contextlib.suppress(Exception):
        serde.loads_typed(("msgpack", _crafted(tmp_path)))
    assert not (tmp_path / "pwned").exists()


def test_pickle_is_refused(tmp_path):
    import pickle

    serde = strict_serializer()
    with pytest.raises(Exception):  # noqa: B017 (any refusal will do; what matters is no unpickling)
        serde.loads_typed(("pickle", pickle.dumps({"a": 1})))


def test_strict_mode_is_on_for_the_project():
    import os

    from langgraph.checkpoint.serde import _msgpack

    assert os.environ["LANGGRAPH_STRICT_MSGPACK"] == "true"
    assert _msgpack.STRICT_MSGPACK_ENABLED


def test_secret_shaped_tool_output_stays_data():
    serde = strict_serializer()
    shaped = {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}
    assert serde.loads_typed(serde.dumps_typed({"tool_output": shaped})) == {"tool_output": shaped}
