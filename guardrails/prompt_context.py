"""How facts reach a model: a system message with instructions and a JSON block.

Real models read the JSON as part of the prompt; the offline model parses it back. Both get the
very same messages.

Records (a customer, an order, a ticket, log lines, a document) are data written by others: before
they enter graph state, text in them that carries instructions addressed to the agent is replaced
by a marker saying that it was withheld and why, and personal data in the rest is masked. Neither
the model nor a reviewer's payload ever holds the original.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from guardrails.input_checks import detect_injection, redact

CONTEXT_MARKER = "CONTEXT_JSON:"
WITHHELD = "[withheld"
"""How every marker of withheld text begins."""
_PASSAGE = re.compile(r"[^\n]*(?:\n|$)")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_MARKER = re.compile(r"\[withheld[^\]]{0,500}\]")


def withheld(families: Iterable[str]) -> str:
    """The marker that replaces text carrying instructions addressed to the agent (the pattern families found)."""
    names = sorted(set(families))
    marker = f"{WITHHELD}: instructions addressed to the agent were found here ({', '.join(names)})]"
    # A family's own name must not read as an instruction (system_prompt would): then only say what was found.
    return (
        marker if not detect_injection(marker) else f"{WITHHELD}: instructions addressed to the agent were found here]"
    )


def clean_text(
    text: str, *, mask_health: bool = False, keep_email_domains: tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    """Text from a record as the model may see it, and the injection families found in it.

    Text that carries instructions is replaced whole by the marker; otherwise personal data is masked.
    """
    families = detect_injection(text)
    if families:
        return withheld(families), families
    return redact(text, mask_health=mask_health, keep_email_domains=keep_email_domains)[0], []


def clean_record(record: Any, *, mask_health: bool = False) -> tuple[Any, dict[str, list[str]]]:
    """A record (nested dicts and lists) with each string cleaned by `clean_text`; and what was withheld where.

    Returns the cleaned copy and {field path: injection families}. An instruction spread over several
    fields (none flagged alone, all together flagged) withholds every string of the record.
    """
    found: dict[str, list[str]] = {}
    strings: list[str] = []

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, str):
            strings.append(value)
            cleaned, families = clean_text(value, mask_health=mask_health)
            if families:
                found[path] = families
            return cleaned
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    cleaned = walk(record, "")
    if not found and len(strings) > 1:
        together = detect_injection(" ".join(strings))
        if together:
            marker = withheld(together)

            def blank(value: Any) -> Any:
                if isinstance(value, str):
                    return marker
                if isinstance(value, dict):
                    return {k: blank(v) for k, v in value.items()}
                if isinstance(value, list):
                    return [blank(v) for v in value]
                return value

            return blank(cleaned), {"(several fields)": together}
    return cleaned, found


def without_markers(text: str) -> str:
    """The text without withheld-markers (for a search query: the marker's words describe nothing)."""
    return _MARKER.sub(" ", text)


def withhold_passages(text: str) -> tuple[str, list[str]]:
    """A document with each line (or, within a long line, each sentence) that carries instructions withheld.

    The rest is kept as it is (mask personal data afterwards); if the instructions are spread so that no
    single passage carries them, the whole text is withheld. Returns the text and the families found.
    """
    families = detect_injection(text)
    if not families:
        return text, []
    out = []
    for line in _PASSAGE.findall(text):
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if detect_injection(body):
            sentences = _SENTENCE_END.split(body)
            body = " ".join(withheld(detect_injection(s)) if detect_injection(s) else s for s in sentences)
            if detect_injection(body):
                body = withheld(detect_injection(line))
        out.append(body + end)
    kept = "".join(out)
    if detect_injection(kept):
        return withheld(families), families
    return kept, families


def context_message(instructions: str, context: dict[str, Any]) -> SystemMessage:
    """The system prompt: the agent's instructions and the facts it may use."""
    return SystemMessage(f"{instructions}\n\n{CONTEXT_MARKER}\n{json.dumps(context, default=str)}")


def read_context(messages: list[BaseMessage]) -> dict[str, Any]:
    """The facts block of the first system message that has one."""
    for message in messages:
        if (
            isinstance(message, SystemMessage)
            and isinstance(message.content, str)
            and CONTEXT_MARKER in message.content
        ):
            parsed: dict[str, Any] = json.loads(message.content.split(CONTEXT_MARKER, 1)[1])
            return parsed
    return {}
