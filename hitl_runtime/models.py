"""The model factory: ChatOpenAI when configured, the offline model otherwise.

Nodes receive the model through the run context, so tests and notebooks swap it without patching
any library.
"""

from __future__ import annotations

import importlib

from langchain_core.language_models import BaseChatModel

from hitl_runtime.offline.model import OfflineChatModel, Responder
from hitl_runtime.settings import Settings


def offline_responder(agent: str) -> Responder:
    """The deterministic responder for an agent (`hitl_runtime.offline.<agent>.respond`)."""
    module = importlib.import_module(f"hitl_runtime.offline.{agent}")
    responder: Responder = module.respond
    return responder


def make_model(agent: str, settings: Settings) -> BaseChatModel:
    """ChatOpenAI for `OPENAI_API_KEY` (and `OPENAI_BASE_URL`), else the offline model."""
    if settings.openai_api_key:
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        return ChatOpenAI(
            model=settings.model_name,
            api_key=SecretStr(settings.openai_api_key),
            base_url=settings.openai_base_url,
            temperature=0,
            timeout=60,
            max_retries=2,
        )
    return OfflineChatModel(responder=offline_responder(agent))
