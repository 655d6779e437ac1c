"""The model factory: ChatOpenAI when a server is configured, the offline model otherwise.

`OPENAI_API_KEY` or `OPENAI_BASE_URL` selects ChatOpenAI: a local OpenAI-compatible server (vLLM,
Ollama, llama.cpp) needs no key, so the base URL alone is enough and a placeholder key is sent.
Nothing falls back silently: the model in use is written to stderr (one line) when a process first
makes it, and `model_info` says the same for the command line (`hitl agents --json`).

Nodes receive the model through the run context, so tests and notebooks swap it without patching
any library.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from hitl_core.offline_model import OfflineChatModel, Responder
from hitl_core.settings import Settings, configured
from hitl_runtime.agents import agent_module

PLACEHOLDER_KEY = "not-needed"
"""Sent to a server named by `OPENAI_BASE_URL` alone (local servers ignore the key; the client requires one)."""
OFFLINE_MODEL_NAME: str = OfflineChatModel.model_fields["model_name"].default

_announced: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def offline_responder(agent: str) -> Responder:
    """The deterministic responder for an agent, or, for an agent that has none, one that says so.

    It is the agent's own `OFFLINE_RESPONDER` (each example ships one beside its graph, `offline.py`).
    """
    own: Responder | None = getattr(agent_module(agent), "OFFLINE_RESPONDER", None)
    return own if own is not None else _no_offline_model


def _no_offline_model(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
    return AIMessage("This agent has no offline model: set OPENAI_API_KEY or OPENAI_BASE_URL to use one.")


def model_info(settings: Settings | None = None) -> dict[str, str | None]:
    """Which chat model the agents use, and why: `{"kind", "name", "base_url", "selected_by"}`.

    `kind` is `openai` (ChatOpenAI, hosted or any compatible server) or `offline` (the built-in
    deterministic model, used when neither `OPENAI_API_KEY` nor `OPENAI_BASE_URL` is set).
    """
    settings = settings or configured()
    if settings.openai_api_key or settings.openai_base_url:
        selected = "OPENAI_API_KEY" if settings.openai_api_key else "OPENAI_BASE_URL"
        if settings.openai_api_key and settings.openai_base_url:
            selected = "OPENAI_API_KEY and OPENAI_BASE_URL"
        return {
            "kind": "openai",
            "name": settings.model_name,
            "base_url": settings.openai_base_url or "https://api.openai.com/v1",
            "selected_by": selected,
            "embedding_model": settings.embedding_model,
        }
    return {
        "kind": "offline",
        "name": OFFLINE_MODEL_NAME,
        "base_url": None,
        "selected_by": "neither OPENAI_API_KEY nor OPENAI_BASE_URL is set",
        "embedding_model": settings.embedding_model,
    }


def describe(info: dict[str, str | None]) -> str:
    """One line for people: `hitl: model: openai gpt-4o-mini at URL (selected by OPENAI_BASE_URL)`."""
    where = f" at {info['base_url']}" if info.get("base_url") else ""
    return f"hitl: model: {info['kind']} {info['name']}{where} ({info['selected_by']})"


def _announce(info: dict[str, str | None]) -> None:
    key = (str(info["kind"]), str(info["name"]), str(info["base_url"]))
    with _lock:
        if key in _announced:
            return
        _announced.add(key)
    print(describe(info), file=sys.stderr, flush=True)


def make_model(agent: str, settings: Settings) -> BaseChatModel:
    """ChatOpenAI for `OPENAI_API_KEY` or `OPENAI_BASE_URL`, else the offline model; says which on stderr."""
    info = model_info(settings)
    _announce(info)
    if info["kind"] == "openai":
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        return ChatOpenAI(
            model=settings.model_name,
            api_key=SecretStr(settings.openai_api_key or PLACEHOLDER_KEY),
            base_url=settings.openai_base_url,
            temperature=0,
            timeout=60,
            max_retries=2,
        )
    return OfflineChatModel(responder=offline_responder(agent))
