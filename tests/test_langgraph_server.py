"""The agents on a real LangGraph Server (`langgraph dev` from `.venv-server`), driven by the real `langgraph-sdk`.

The server loads `langgraph.json` at the repository root, authenticates with the project's API
tokens and keeps its own checkpoints; the review rows, the decisions, the audit and the ledger
land in the project's database, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.types import Interrupt
from langgraph_sdk import get_sync_client

from hitl_core import audit, ledger, reviews, tokens
from hitl_core.canonical import iso, parse_iso, use_clock, utc_now
from hitl_core.db import Database
from hitl_core.errors import BadInput, HitlError
from hitl_core.settings import Settings
from hitl_core.users import add_user
from hitl_runtime.runner import Runner
from hitl_runtime.server import served_context
from nodes.state import AgentContext
from tests.conftest import ACCOUNTS
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
LANGGRAPH = REPO / ".venv-server" / "bin" / "langgraph"


class Server:
    """A `langgraph dev` process on a loopback port, a bearer token per account, and a runtime that reaches it."""

    def __init__(self, url: str, tokens_by_user: dict[str, str], db: Database, log: Path) -> None:
        self.url, self.tokens, self.db, self.log = url, tokens_by_user, db, log
        settings = Settings(
            database_url=db.url,
            langgraph_url=url,
            langgraph_token=tokens_by_user["hitl-runtime"],
            langgraph_agents=("support",),
            resume_grace_seconds=0,
        )
        self.runtime = Runner(settings, db=db)  # the app's, the CLI's, the worker's

    def client(self, user: str | None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return get_sync_client(url=self.url, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not LANGGRAPH.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{LANGGRAPH} is missing under CI=true: scripts/setup.sh makes it")
        pytest.skip("no .venv-server (run scripts/setup.sh)")
    runner = Runner(db=Database(database_url))  # the schema, as any first process of a deployment makes it
    accounts = {
        **ACCOUNTS,
        "sid": ["sre"],
        "sia": ["sre"],
        "eva": ["end_user"],
        "erin": ["end_user"],
        "hitl-runtime": ["admin"],
    }
    made: dict[str, str] = {}
    for name, roles in accounts.items():
        add_user(runner.db, name, roles, actor="test")
        made[name] = tokens.create(runner.db, name, actor="test")["token"]
    workdir = tmp_path_factory.mktemp("langgraph")  # the server keeps its own state in its working folder
    shutil.copy(REPO / "langgraph.json", workdir / "langgraph.json")
    port = free_port()
    database_file = os.path.abspath(runner.db.target) if runner.db.dialect == "sqlite" else None
    key_file = audit.key_file_path(runner.db.dialect, database_file)  # every process of a deployment shares it
    env = {
        **os.environ,
        "HITL_DATABASE_URL": database_url,
        "HITL_AUDIT_KEY_FILE": str(key_file),
        "PYTHONPATH": str(REPO),
    }
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [str(LANGGRAPH), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("langgraph dev did not serve: " + (workdir / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield Server(url, made, runner.db, workdir / "server.log")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        runner.close()


def _paused(server: Server, user: str, agent: str, graph_input: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A new thread of `user`'s, run until it pauses: its id and the one interrupt value it waits with."""
    client = server.client(user)
    thread = client.threads.create()
    out = client.runs.wait(thread["thread_id"], agent, input=graph_input)
    (pending,) = out["__interrupt__"]
    return thread["thread_id"], pending["value"]


def _refund(
    server: Server, user: str, amount: float, *, extra: str = "", note: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A requester's refund request (`extra` said with it, `note` on the order), run until it waits for a review."""
    order = f"o-{int(time.time() * 1000) % 900000 + 100000}"
    record: dict[str, Any] = {"id": order, "amount": amount, "currency": "USD", "days_since_delivery": 3}
    return _paused(
        server,
        user,
        "support",
        {
            "request": f"My kettle arrived broken. Can I get my ${amount:g} back for order {order}?{extra}",
            "context": {
                "customer": {"id": f"c-{order}", "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
                "order": record | ({"note": note} if note else {}),
            },
            "requester": "sam",  # ignored: the requester is who the token says
        },
    )


def _resume(server: Server, user: str, thread_id: str, agent: str, value: Any) -> dict[str, Any]:
    result: dict[str, Any] = server.client(user).runs.wait(thread_id, agent, command={"resume": value})
    return result


def _refusals(server: Server, thread_id: str) -> list[dict[str, Any]]:
    return [e for e in audit.thread_history(server.db, thread_id) if e["kind"] == "resume_refused"]


def _interrupted(server: Server, thread_id: str) -> list[dict[str, Any]]:
    found = server.client("sam").threads.search(status="interrupted", limit=100)
    return [t for t in found if t["thread_id"] == thread_id]


@pytest.mark.parametrize("agent", ["support", "ops", "compliance"])
def test_a_served_context_has_every_field_of_the_agent_context(agent: str) -> None:
    """The served class cannot run the dataclass's __init__ (its fields are properties there), so a
    field added to `AgentContext` must be set in its own __init__ too: one missing failed every served run."""
    context_class = served_context(agent)
    context = context_class()
    missing = [
        f.name
        for f in dataclasses.fields(AgentContext)
        if not isinstance(getattr(context_class, f.name, None), property) and not hasattr(context, f.name)
    ]
    assert missing == []


def test_a_refund_waits_for_a_review_that_only_an_authorised_reviewer_can_decide(server):
    thread_id, request = _refund(server, "eve", 45)
    row = reviews.get(server.db, request["review_id"])
    assert row["requester"] == "eve" and row["status"] == "pending" and row["action"] == "refund"
    assert request["action_requests"][0]["name"] == "refund" and "review_configs" in request  # a HITLRequest
    assert _interrupted(server, thread_id), "found as Agent Inbox finds it"

    approve = {"decisions": [{"type": "approve"}]}
    told = []
    for who in ("eve", "olga"):  # the requester herself; a reviewer without the role
        still = _resume(server, who, thread_id, "support", approve)
        assert [i["value"]["review_id"] for i in still["__interrupt__"]] == [request["review_id"]]
        told.append(still["__interrupt__"][0]["value"]["refused_resume"])
    assert told[0] == {"reason": "eve made this request and cannot decide it", "claimed_reviewer": "eve"}
    assert told[1]["claimed_reviewer"] == "olga" and "may not decide review" in told[1]["reason"]
    reasons = [(e["data"]["claimed_reviewer"], e["data"]["reason"]) for e in _refusals(server, thread_id)]
    assert reasons[0] == ("eve", "eve made this request and cannot decide it")
    assert reasons[1][0] == "olga" and "may not decide review" in reasons[1][1]
    assert ledger.list_entries(server.db, thread_id=thread_id) == []
    assert reviews.get(server.db, request["review_id"])["status"] == "pending"

    edit = {"type": "edit", "edited_action": {"name": "refund", "args": {**request["action_requests"][0]["args"]}}}
    edit["edited_action"]["args"]["amount"] = 30
    done = _resume(server, "sam", thread_id, "support", {"decisions": [edit]})
    assert "__interrupt__" not in done and done["status"] == "completed"
    (effect,) = ledger.list_entries(server.db, thread_id=thread_id)
    assert effect["args"]["amount"] == 30 and effect["executed_by"] == "sam"
    decided = reviews.get_row(server.db, request["review_id"])
    assert decided["status"] == "approved_with_edits" and json.loads(decided["decision"])["channel"] == "langgraph"
    kinds = [e["kind"] for e in audit.thread_history(server.db, thread_id)]
    assert kinds[0] == "request_received" and kinds[-1] == "turn_finished" and "review_decided" in kinds
    assert audit.verify(server.db).ok


def test_agent_inbox_accept_and_a_requester_sees_only_her_threads(server):
    thread_id, _ = _refund(server, "eve", 40)
    assert all(t["thread_id"] != thread_id for t in server.client("eva").threads.search(limit=100))
    assert any(t["thread_id"] == thread_id for t in server.client("eve").threads.search(limit=100))
    with pytest.raises(httpx.HTTPStatusError) as refused:
        server.client("eva").runs.wait(thread_id, "support", command={"resume": [{"type": "accept", "args": None}]})
    assert refused.value.response.status_code == 404  # another requester's thread does not exist for her
    done = _resume(server, "sue", thread_id, "support", [{"type": "accept", "args": None}])
    assert done["status"] == "completed"
    (effect,) = ledger.list_entries(server.db, thread_id=thread_id)
    assert effect["executed_by"] == "sue" and effect["args"]["amount"] == 40


def test_two_reviewers_resuming_at_once_execute_once(server):
    thread_id, request = _refund(server, "eve", 35)
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def resume(who: str) -> None:
        barrier.wait()
        try:
            outcomes.append(
                server.client(who).runs.wait(
                    thread_id,
                    "support",
                    command={"resume": {"decisions": [{"type": "approve"}]}},
                    multitask_strategy="enqueue",
                )
            )
        except httpx.HTTPStatusError as exc:
            outcomes.append(exc)

    workers = [threading.Thread(target=resume, args=(who,)) for who in ("sam", "sue")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(outcomes) == 2
    (effect,) = ledger.list_entries(server.db, thread_id=thread_id)
    decided = reviews.get(server.db, request["review_id"])
    assert decided["status"] == "approved" and effect["executed_by"] == decided["decided_by"]


def test_an_irreversible_ops_action_needs_two_distinct_authorised_resumes(server):
    thread_id, request = _paused(
        server,
        "eve",
        "ops",
        {
            "request": "Restart payments-api in production, the connection pool is exhausted.",
            "context": {
                "service": {"name": "payments-api", "env": "prod", "replicas": 4, "version": "3.2.1"},
                "incident": {"id": "inc-318", "severity": "sev2", "error_rate": 0.12, "logs": ["ERROR pool exhausted"]},
            },
        },
    )
    review_id = request["review_id"]
    assert reviews.get(server.db, review_id)["approvals_required"] == 2
    approve = {"decisions": [{"type": "approve"}]}
    for who in ("sid", "sid"):  # the second time: the same approver, refused
        still = _resume(server, who, thread_id, "ops", approve)
        assert [i["value"]["review_id"] for i in still["__interrupt__"]] == [review_id]
    assert ledger.list_entries(server.db, thread_id=thread_id) == []
    (again,) = _refusals(server, thread_id)
    assert again["data"]["claimed_reviewer"] == "sid" and "already approved" in again["data"]["reason"]
    done = _resume(server, "sia", thread_id, "ops", approve)
    assert "__interrupt__" not in done
    (restart,) = ledger.list_entries(server.db, thread_id=thread_id)
    assert restart["name"] == "restart_service" and restart["executed_by"] == "sid,sia"


def test_without_a_token_the_server_answers_401(server):
    response = httpx.post(f"{server.url}/threads", json={}, timeout=10)
    assert response.status_code == 401
    bad = httpx.post(f"{server.url}/threads", json={}, headers={"Authorization": "Bearer hitl_nope"}, timeout=10)
    assert bad.status_code == 401


def test_a_decision_through_the_runtime_resumes_the_thread_where_the_server_keeps_it(server):
    """What the review app, `hitl decide` and the HTTP API do: record the decision, then resume it there."""
    thread_id, request = _refund(server, "eve", 45)
    shown = server.runtime.show(request["review_id"])
    assert shown["interrupt"] == request, "read from the server's checkpoint, as the inbox shows it"
    with pytest.raises(Exception, match="cannot decide"):
        server.runtime.decide(request["review_id"], "approve", "eve")
    answer = server.runtime.decide(request["review_id"], "approve", "sam", channel="cli")
    assert answer["status"] == "approved" and answer["thread"]["status"] == "completed"
    (effect,) = ledger.list_entries(server.db, thread_id=thread_id)
    assert effect["executed_by"] == "sam"
    decided = reviews.get_row(server.db, request["review_id"])
    assert decided["applied_at"] is not None and json.loads(decided["decision"])["channel"] == "cli"
    assert server.runtime.thread(thread_id)["status"] == "completed"
    assert _refusals(server, thread_id) == []


def test_a_decision_made_while_a_refused_resume_still_runs_on_the_server_is_not_lost(server):
    """The requester resumes her own thread straight on the server and, before those runs end, a reviewer
    decides through the runtime. The gate refuses hers and asks again under a new interrupt id; the
    reviewer's decision must still reach the thread, not be marked applied while the thread waits. It failed
    now and then under load: the test below makes the interleaving that lost the decision certain."""
    thread_id, request = _refund(server, "eve", 45)
    for _ in range(3):
        forged = server.client("eve").runs.create(
            thread_id, "support", command={"resume": {"decisions": [{"type": "approve"}]}}, multitask_strategy="enqueue"
        )
        assert forged["status"] in ("pending", "running")
    done = server.runtime.decide(request["review_id"], "approve", "sam")
    assert done["thread"]["status"] == "completed", done
    (effect,) = ledger.list_entries(server.db, thread_id=thread_id)
    assert effect["executed_by"] == "sam"
    assert len(_refusals(server, thread_id)) == 3
    assert reviews.get_row(server.db, request["review_id"])["applied_at"] is not None


def test_a_decision_sent_under_an_interrupt_id_that_went_stale_meanwhile_still_reaches_the_thread(server, monkeypatch):
    """The race above, made certain. Each refused resume makes the gate ask again under the next interrupt
    id; the runtime reads the thread after one refusal and, before its resume runs, two more arrive. Its
    resume, keyed by an id the thread no longer waits with, is handed to no one. The decision must still
    land, and be marked applied only once the thread no longer waits on its review."""
    forged = {"decisions": [{"type": "approve"}]}
    thread_id, request = _refund(server, "eve", 45)
    _resume(server, "eve", thread_id, "support", forged)
    served = server.runtime.served
    real_resume = served.resume
    sent: list[str] = []

    def queued_behind_two_more(thread: str, agent: str, resume: Any) -> Any:
        if not sent:  # the requester's resumes queued ahead of the runtime's run to their end first
            for _ in range(2):
                _resume(server, "eve", thread, agent, forged)
        sent.extend(resume)
        return real_resume(thread, agent, resume)

    monkeypatch.setattr(served, "resume", queued_behind_two_more)
    done = server.runtime.decide(request["review_id"], "approve", "sam")
    assert done["thread"]["status"] == "completed", done
    assert len(sent) == 2 and sent[0] != sent[1], "sent again under the id the thread waits with"
    (effect,) = ledger.list_entries(server.db, thread_id=thread_id)
    assert effect["executed_by"] == "sam"
    refused = [e["data"] for e in _refusals(server, thread_id)]
    assert [r["claimed_reviewer"] for r in refused].count("eve") == 3
    # The stale run hands the node the requester's last resume again (LangGraph keeps it as the thread's
    # pending resume); it is judged once more, under the runtime's account, and refused: nothing is decided.
    assert all("already decided" in r["reason"] for r in refused[1:]), refused
    assert reviews.get_row(server.db, request["review_id"])["applied_at"] is not None


def test_a_decision_the_server_s_thread_never_takes_stays_unapplied_for_the_sweep(server, monkeypatch):
    """A server that keeps answering with the review still pending: the decision is recorded, never marked
    applied, and the error says so in one line; once the server takes it, `apply` (the sweep's way) finishes it."""
    thread_id, request = _refund(server, "eve", 45)
    served = server.runtime.served
    real_resume = served.resume
    sent: list[str] = []

    def never_taken(thread: str, agent: str, resume: Any) -> Any:
        sent.extend(resume)
        return {}, (Interrupt(value=request, id=f"still-{len(sent)}"),)

    monkeypatch.setattr(served, "resume", never_taken)
    with pytest.raises(HitlError, match="still waits on review") as refused:
        server.runtime.decide(request["review_id"], "approve", "sam")
    assert (
        "\n" not in str(refused.value) and len(sent) == 5 and sent[1:] == ["still-1", "still-2", "still-3", "still-4"]
    )
    row = reviews.get_row(server.db, request["review_id"])
    assert row["status"] == "approved" and row["applied_at"] is None
    monkeypatch.setattr(served, "resume", real_resume)
    assert server.runtime.apply(request["review_id"]).status == "completed"
    assert reviews.get_row(server.db, request["review_id"])["applied_at"] is not None
    assert server.runtime.thread(thread_id)["status"] == "completed"


def test_the_sweep_applies_an_overdue_review_s_fallback_on_the_server(server):
    thread_id, request = _refund(server, "eve", 45)
    assert server.runtime.thread(thread_id)["status"] == "pending_review"
    late = parse_iso(request["deadline"]) + timedelta(seconds=5)
    with use_clock(lambda: late):  # this process's clock: the server's own stays where it is
        swept = server.runtime.sweep(checkpoint=False)
    assert request["review_id"] in [e["review_id"] for e in swept["expired"]], swept
    assert reviews.get(server.db, request["review_id"])["status"] == "expired"
    assert ledger.list_entries(server.db, thread_id=thread_id) == []  # silence never approves a refund
    state = server.client("eve").threads.get_state(thread_id)
    seen = {"swept": swept, "refused": [e["data"] for e in _refusals(server, thread_id)], "next": state["next"]}
    assert not state["next"] and state["values"]["status"] == "completed", seen


def test_a_question_to_the_requester_is_answered_through_the_runtime(server):
    asked = {"request": "I'd like to return something.", "context": {"customer": {"id": "c-q1", "name": "Eve"}}}
    thread_id, pending = _paused(server, "eve", "support", asked)
    assert pending["kind"] == "question"
    question = reviews.pending_question(server.db, thread_id)
    assert question is not None and question["requester"] == "eve"
    assert server.runtime.thread(thread_id)["status"] == "needs_info"
    with pytest.raises(Exception, match="only the requester"):
        server.runtime.reply(thread_id, "the kettle", user="sam")
    answered = server.runtime.reply(thread_id, "The kettle from order o-551234, it arrived cracked.", user="eve")
    assert answered.status != "needs_info" or answered.reviews != [question["id"]]
    assert reviews.get(server.db, question["id"])["status"] == "answered"
    state = server.client("eve").threads.get_state(thread_id)
    assert all(i["value"].get("review_id") != question["id"] for t in state["tasks"] for i in t["interrupts"])


def test_the_runtime_starts_a_served_agent_s_thread_on_the_server_as_its_requester(server):
    """What the chat and `hitl run` do with HITL_LANGGRAPH_URL: the turn runs there, as the requester."""
    context = {
        "customer": {"id": "c-run1", "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
        "order": {"id": "o-661234", "amount": 45, "currency": "USD", "days_since_delivery": 3},
    }
    started = server.runtime.run(
        "support", "My kettle arrived broken. Can I get my $45 back for order o-661234?", user="eve", context=context
    )
    assert started.status == "pending_review", started
    row = server.runtime.thread(started.thread_id)
    assert row["host"] == "langgraph" and row["requester"] == "eve"
    assert server.client("eve").threads.get_state(started.thread_id)["values"]["requester"] == "eve"
    assert all(t["revoked_at"] for t in tokens.list_tokens(server.db, "eve") if t["label"]), "the one-run token is gone"
    done = server.runtime.decide(started.reviews[0], "approve", "sam")
    assert done["thread"]["status"] == "completed"
    with pytest.raises(BadInput, match="UUID"):
        server.runtime.run("support", "Where is my order?", user="eve", thread_id="th-not-a-uuid")
    with pytest.raises(BadInput, match="account"):
        server.runtime.run("support", "Where is my order?")


OWN_AGENTS = [
    (
        "travel",
        "Book my trip to Lisbon for the partner meeting",
        {"traveller": "eve", "destination": "Lisbon", "cost": 900},
        "travel_manager",
    ),
    ("purchasing", "Order a standing desk from Acme for 650", {}, "buyer"),
]


@pytest.mark.parametrize(("agent", "message", "context", "role"), OWN_AGENTS, ids=[a[0] for a in OWN_AGENTS])
def test_agents_of_ones_own_are_served_and_governed_the_same_way(server, agent, message, context, role):
    """The travel desk (its own nodes, `request_approval` inside one) and the purchasing agent (`create_agent`)."""
    from examples import purchasing_agent, travel_desk
    from hitl_runtime.agents import register_agent

    for module in (travel_desk, purchasing_agent):  # the runtime's side; the server finds them through HITL_AGENTS
        register_agent(module.NAME, module)
    add_user(server.db, "pat", [role], actor="test")
    thread_id, request = _paused(server, "eve", agent, {"request": message, "context": context})
    review = reviews.get(server.db, request["review_id"])
    assert review["requester"] == "eve" and review["required_roles"] == [role]
    _resume(server, "eve", thread_id, agent, {"decisions": [{"type": "approve"}]})
    assert ledger.list_entries(server.db, thread_id=thread_id) == []
    assert len(_refusals(server, thread_id)) == 1
    done = server.runtime.decide(review["id"], "approve", "pat")
    assert done["thread"]["status"] == "completed"
    (effect,) = ledger.list_entries(server.db, thread_id=thread_id)
    assert effect["executed_by"] == "pat"


def test_a_card_number_never_reaches_the_server_s_store(server):
    """Masked at the boundary (issue 17): the run's input and a resume, before the server keeps them."""
    client = server.client("eve")
    card = "4111 1111 1111 1111"
    thread_id, request = _refund(server, "eve", 45, extra=f" I paid with card {card}. eve@example.org", note=card)
    args = request["action_requests"][0]["args"]
    edit = {"type": "edit", "edited_action": {"name": "refund", "args": {**args, "amount": 40}}, "message": card}
    _resume(server, "sam", thread_id, "support", {"decisions": [edit]})
    stored = json.dumps(
        [
            client.threads.get_state(thread_id),
            client.threads.get_history(thread_id, limit=100),
            client.runs.list(thread_id),
        ],
        default=str,
    )
    digits = card.replace(" ", "")
    assert card not in stored and digits not in stored and "eve@example.org" not in stored
    assert "[CARD ****1111]" in stored
    logged = server.log.read_text()
    assert card not in logged and digits not in logged, "nor in the server's log"


def test_nobody_edits_a_thread_s_state_past_intake_and_the_gate(server):
    """Writing `requester` into a waiting thread would let its requester approve her own request."""
    thread_id, request = _refund(server, "eve", 45)
    for who in ("eve", "ada"):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            server.client(who).threads.update_state(thread_id, {"requester": "bob"})
        assert refused.value.response.status_code == 403
    assert server.client("eve").threads.get_state(thread_id)["values"]["requester"] == "eve"
    assert reviews.get(server.db, request["review_id"])["requester"] == "eve"


# -- retention and erasure reach the server's checkpoints (last: they erase and purge) ----------------------
def test_forgetting_a_requester_deletes_her_threads_on_the_server(server):
    from hitl_runtime import erasure

    thread_id, _ = _refund(server, "erin", 45)
    _resume(server, "sam", thread_id, "support", {"decisions": [{"type": "reject", "message": "not this time"}]})
    report = erasure.forget(server.db, server.runtime.thread_checkpoints, "erin", actor="ada", lease_seconds=30)
    assert thread_id in report["threads"]
    with pytest.raises(httpx.HTTPStatusError) as gone:
        server.client("sam").threads.get_state(thread_id)
    assert gone.value.response.status_code == 404
    assert audit.verify(server.db).ok


def test_retention_purges_a_finished_server_thread_on_the_server(server):
    thread_id, _ = _refund(server, "eve", 45)
    done = _resume(server, "sam", thread_id, "support", {"decisions": [{"type": "approve"}]})
    assert done["status"] == "completed" and server.runtime.thread(thread_id)["status"] == "completed"
    days = server.runtime.policy("support").retention_days
    swept = server.runtime.sweep(now=iso(utc_now() + timedelta(days=days + 2)), checkpoint=False)
    assert thread_id in swept["purged"]["threads"], swept
    with pytest.raises(httpx.HTTPStatusError) as gone:
        server.client("sam").threads.get_state(thread_id)
    assert gone.value.response.status_code == 404
