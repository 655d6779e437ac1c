"""How facts reach a model: a system message with instructions and a JSON block.

Real models read the JSON as part of the prompt; the offline model parses it back. Both get the
very same messages.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

CONTEXT_MARKER = "CONTEXT_JSON:"


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
