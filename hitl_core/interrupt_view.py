"""What reviewers see of an interrupt value, and the hash it is known by.

Apart from the payload types (`hitl_core/payloads.py`, which import LangChain's slow agents package)
so that the reviews table and read-only commands can hash and store a payload without LangChain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hitl_core.canonical import value_hash

REFUSAL_KEY: Final = "refused_resume"
"""The key of a `RefusedResume` on the interrupt value the gate raises again after a refusal."""


def as_shown(value: Mapping[str, Any]) -> dict[str, Any]:
    """An interrupt value as its reviewers see it: without the last refusal, which is the resume's sender's news."""
    return {k: v for k, v in value.items() if k != REFUSAL_KEY}


def payload_hash(value: Mapping[str, Any]) -> str:
    """The hash a review's payload is known by: of what its reviewers see (`as_shown`)."""
    return value_hash(as_shown(value))
