"""A chat model that answers through a deterministic responder function.

It implements LangChain's chat-model interface (including `bind_tools`), so agents call it exactly
as they call ChatOpenAI: the same prompt goes in, an AIMessage with tool calls comes out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from hitl_core.canonical import value_hash

Responder = Callable[[list[BaseMessage], list[dict[str, Any]]], AIMessage]
"""Given the messages and the bound tools (OpenAI format), produce the model's reply."""


class OfflineChatModel(BaseChatModel):
    """Deterministic stand-in for a hosted model; no network, same code paths."""

    responder: Responder
    model_name: str = "hitl-offline-1"

    @property
    def _llm_type(self) -> str:
        return "hitl-offline"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as OpenAI-format schemas, as ChatOpenAI does."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self.responder(messages, list(kwargs.get("tools") or []))
        message.response_metadata = {**message.response_metadata, "model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=message)])


def tool_call_message(name: str, args: dict[str, Any], message: str = "", confidence: float = 0.5) -> AIMessage:
    """A responder's answer: one tool call, a message and the `CONFIDENCE:` line real models are asked for."""
    return AIMessage(
        f"{message}\nCONFIDENCE: {confidence:.2f}".strip(),
        tool_calls=[{"name": name, "args": args, "id": "call_" + value_hash([name, args])[:12]}],
    )


def question_message(missing: list[str], question: str) -> AIMessage:
    """A responder's answer when it cannot act yet: ask the requester (the `ask_requester` tool)."""
    return tool_call_message("ask_requester", {"question": question, "missing": missing}, confidence=0.3)
