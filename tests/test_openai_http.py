"""The ChatOpenAI path over real HTTP, against a local OpenAI-compatible server started here."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hitl_core.settings import Settings
from hitl_runtime.models import make_model

pytestmark = pytest.mark.network_model


class _Server:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: dict[str, Any] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                payload = json.dumps(outer.reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _completion(tool: str, args: dict[str, Any], content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "local-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": content,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@pytest.fixture
def server() -> Iterator[_Server]:
    instance = _Server()
    yield instance
    instance.httpd.shutdown()


def test_factory_picks_chatopenai_only_with_a_key(server):
    from langchain_openai import ChatOpenAI

    from hitl_core.offline_model import OfflineChatModel

    assert isinstance(make_model("support", Settings(database_url="sqlite:///x.db")), OfflineChatModel)
    model = make_model(
        "support",
        Settings(
            database_url="sqlite:///x.db", openai_api_key="k", openai_base_url=server.url, model_name="local-model"
        ),
    )
    assert isinstance(model, ChatOpenAI)


def test_support_agent_over_real_http(server, tmp_path, monkeypatch):
    from hitl_runtime.runner import Runner

    server.reply = _completion(
        "refund",
        {"order_id": "o-7777", "amount": 30, "currency": "USD", "reason": "cracked jar"},
        "Sorry about the jar, a refund is on its way.\nCONFIDENCE: 0.9",
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/h.db",
        openai_api_key="sk-local",
        openai_base_url=server.url,
        model_name="local-model",
    )
    runner = Runner(settings)
    result = runner.run(
        "support",
        "My jar cracked, I want my $30 back",
        user="eve",
        context={
            "customer": {"id": "c-h", "name": "Hana"},
            "order": {"id": "o-7777", "amount": 30, "days_since_delivery": 2},
        },
    )
    assert result.status == "pending_review"
    assert result.action == {
        "name": "refund",
        "args": {"order_id": "o-7777", "amount": 30.0, "currency": "USD", "reason": "cracked jar"},
    }
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-local"
    body = request["body"]
    assert body["model"] == "local-model"
    assert {t["function"]["name"] for t in body["tools"]} >= {"reply", "refund", "ask_requester"}
    assert body["messages"][0]["role"] == "system" and "CONTEXT_JSON:" in body["messages"][0]["content"]
    assert body["messages"][-1] == {
        "role": "user",
        "content": "My jar cracked, I want my $30 back",
        "name": "requester",
    }
    confidence = {s["name"]: s["value"] for s in runner.show(result.reviews[0])["interrupt"]["confidence_signals"]}
    assert confidence["model_estimate"] == 0.9
    runner.close()


def test_model_server_down_is_a_clear_failure(tmp_path):
    from hitl_core.errors import Unavailable
    from hitl_runtime.runner import Runner

    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/h.db", openai_api_key="k", openai_base_url="http://127.0.0.1:9/v1"
    )
    runner = Runner(settings, model_factory=lambda agent: _no_retry(settings))
    with pytest.raises(Unavailable, match="model call failed"):
        runner.run("support", "What are your hours?", user="eve")
    # Nothing is lost: the thread waits at its last checkpoint, and `hitl sweep` carries it on later.
    (thread,) = runner.db.read("SELECT thread_id, status FROM threads")
    assert thread["status"] == "running"
    assert runner.snapshot("support", thread["thread_id"]).next == ("propose",)
    runner.close()


def _no_retry(settings: Settings) -> Any:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(model="m", api_key=SecretStr("k"), base_url=settings.openai_base_url, max_retries=0, timeout=5)
