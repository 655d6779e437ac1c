"""Size and shape limits on everything a caller hands the runtime, in one place.

Every input (a request, an answer, a reviewer's comment, a scenario's context, edited action
arguments, a lesson's rule) is bounded before anything reads it: its length, the length of each
string in it, how deeply it nests, how many keys and items it holds, and the magnitude of its
integers. Values that cannot be stored or compared safely are refused too: NUL characters
(PostgreSQL refuses them), lone surrogates (they cannot be encoded as UTF-8), NaN and infinite
floats (JSON has no such numbers) and integers beyond what a JSON reader keeps exact (±2**53).

A refusal is a `BadInput` with one line naming the input and the limit; nothing has been changed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from hitl_core.errors import BadInput

MAX_MESSAGE = 8_000
"""A request or an answer to the agent's question, in characters."""
MAX_COMMENT = 2_000
"""A reviewer's comment, in characters."""
MAX_CONTEXT = 64_000
"""A scenario's context (facts for the simulated systems) as a whole, in characters of compact JSON."""
MAX_CONTEXT_STRING = 20_000
"""Any one string in a context (a document, a log line, a name)."""
MAX_ARGS = 16_000
"""Edited action arguments as a whole, in characters of compact JSON."""
MAX_ARGS_STRING = 4_000
"""Any one string in edited arguments (the longest argument any action takes is 4,000 characters)."""
MAX_RULE = 4_000
"""A lesson's rule (`hitl lessons propose --rule`) as a whole."""
MAX_DEPTH = 8
"""Nesting of objects and arrays (shipped contexts nest 3 deep)."""
MAX_KEYS = 500
"""Object keys in one value, counted over every level."""
MAX_ITEMS = 2_000
"""Array items in one value, counted over every level."""
MAX_KEY_LENGTH = 200
"""One object key, in characters."""
MAX_INTEGER = 2**53
"""Integers beyond ±2**53 lose precision in JavaScript and most JSON readers."""
_MAX_NUMBER_TEXT = 400
"""Digits in one JSON number literal: reading a longer one costs more than it can be worth."""


@dataclass(frozen=True)
class Limit:
    """The bounds on one named input."""

    label: str
    """How errors name the input (`the message`, `--context`)."""
    max_chars: int
    """The whole value: a string's length, or a structure's length as compact JSON."""
    max_string: int
    """Any one string inside a structure."""


LIMITS: dict[str, Limit] = {
    "message": Limit("the message", MAX_MESSAGE, MAX_MESSAGE),
    "answer": Limit("the answer", MAX_MESSAGE, MAX_MESSAGE),
    "comment": Limit("--comment", MAX_COMMENT, MAX_COMMENT),
    "context": Limit("--context", MAX_CONTEXT, MAX_CONTEXT_STRING),
    "args": Limit("--args", MAX_ARGS, MAX_ARGS_STRING),
    "rule": Limit("--rule", MAX_RULE, MAX_RULE),
}
"""Limits by input name; `limit_for` also finds them by label (`--context`)."""
_DEFAULT = Limit("the input", MAX_CONTEXT, MAX_CONTEXT_STRING)


def limit_for(name: str) -> Limit:
    """The limits of an input, by name (`context`) or label (`--context`); unknown inputs get the widest."""
    if name in LIMITS:
        return LIMITS[name]
    for limit in LIMITS.values():
        if limit.label == name:
            return limit
    return Limit(name, _DEFAULT.max_chars, _DEFAULT.max_string)


def check_text(text: str, what: str, max_chars: int) -> str:
    """One string: no NUL, no lone surrogate, at most `max_chars` characters; returns it unchanged."""
    if len(text) > max_chars:
        raise BadInput(f"{what} is longer than {max_chars} characters")
    if "\x00" in text:
        raise BadInput(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise BadInput(f"{what} contains a lone surrogate (U+{code:04X}): text must be valid Unicode") from None
    return text


def check_value(value: Any, name: str) -> Any:
    """A JSON-like value for the named input, within its limits; BadInput in one line otherwise.

    Strings are checked as text (`check_text`); structures also for depth, keys, items, total
    size, and numbers that JSON cannot carry exactly. Returns the value unchanged.
    """
    limit = limit_for(name)
    if isinstance(value, str):
        return check_text(value, limit.label, limit.max_chars)
    counts = {"keys": 0, "items": 0, "chars": 0}
    _walk(value, limit, 0, counts, "")
    return value


def _where(path: str) -> str:
    return f" at {path}" if path else ""


def _walk(value: Any, limit: Limit, depth: int, counts: dict[str, int], path: str) -> None:
    what = limit.label
    if value is None or isinstance(value, bool):
        counts["chars"] += 5
    elif isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            raise BadInput(f"{what}: the integer{_where(path)} is beyond ±2**53")
        counts["chars"] += len(str(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(f"{what}: {value!r}{_where(path)} is not a number JSON allows (NaN or infinite)")
        counts["chars"] += 24
    elif isinstance(value, str):
        check_text(value, f"{what}: the text{_where(path)}", limit.max_string)
        counts["chars"] += len(value) + 2
    elif isinstance(value, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            raise BadInput(f"{what} nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            counts["keys"] += len(value)
            if counts["keys"] > MAX_KEYS:
                raise BadInput(f"{what} has more than {MAX_KEYS} keys")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise BadInput(f"{what}: object keys must be strings")
                check_text(key, f"{what}: a key{_where(path)}", MAX_KEY_LENGTH)
                counts["chars"] += len(key) + 4
                _walk(item, limit, depth + 1, counts, f"{path}.{key}" if path else key)
        else:
            counts["items"] += len(value)
            if counts["items"] > MAX_ITEMS:
                raise BadInput(f"{what} has more than {MAX_ITEMS} array items")
            for index, item in enumerate(value):
                _walk(item, limit, depth + 1, counts, f"{path}[{index}]")
        counts["chars"] += 2
    else:
        raise BadInput(f"{what}{_where(path)}: {type(value).__name__} is not a JSON value")
    if counts["chars"] > limit.max_chars:
        raise BadInput(f"{what} is larger than {limit.max_chars} characters")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_int(text: str) -> int:
    if len(text) > _MAX_NUMBER_TEXT:
        raise ValueError("a number with that many digits is not allowed")
    value = int(text)
    if abs(value) > MAX_INTEGER:
        raise ValueError(f"the integer {text[:20]}{'...' if len(text) > 20 else ''} is beyond ±2**53")
    return value


def _parse_float(text: str) -> float:
    if len(text) > _MAX_NUMBER_TEXT:
        raise ValueError("a number with that many digits is not allowed")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is too large")
    return value


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """A JSON object from a command-line argument, within the input's limits, or BadInput in one line.

    `what` names the input (`--context`, `--args`, `--rule`). NaN and Infinity literals, numbers
    that do not fit, depth or size beyond the input's limits and anything but an object are refused.
    """
    limit = limit_for(what)
    check_text(text, limit.label, limit.max_chars)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{limit.label} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError as exc:
        raise BadInput(f"{limit.label}: {exc}") from None
    except RecursionError:
        raise BadInput(f"{limit.label} nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(value, dict):
        raise BadInput(f"{limit.label} must be a JSON object")
    check_value(value, what)
    return value
