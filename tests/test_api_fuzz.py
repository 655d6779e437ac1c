"""Property-based requests from the API's own OpenAPI document (schemathesis), over real HTTP.

On SQLite and PostgreSQL, for every operation with a valid admin token: no response is a 5xx, every
error is a one-line problem, and a refused request (4xx) changes nothing (row counts of every table
a request could write, before and after, the queued jobs included). An accepted run, reply or
decision (202) is waited for before the next case, so its job's writes are not taken for a refusal's;
on PostgreSQL a real `hitl worker` process carries the jobs out, on SQLite the server's own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from hitl_api.app import create_app
from hitl_core import tokens
from hitl_core.settings import Settings
from hitl_core.users import add_user
from tests.api_server import digest, serving, worker_for
from tests.conftest import ACCOUNTS


@pytest.fixture(scope="module")
def fuzzed(database_url: str) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HITL_DATABASE_URL", database_url)
        app = create_app(Settings(database_url=database_url, lease_seconds=30.0))
        runner = app.state.runner
        for name, roles in ACCOUNTS.items():
            add_user(runner.db, name, roles, actor="test")
        token = tokens.create(runner.db, "ada", actor="test")["token"]
        with worker_for(database_url), serving(app) as url:
            yield {"url": url, "db": runner.db, "token": token}


AGENTS = ["support", "ops", "compliance"]
BUGS = ("TypeError", "KeyError", "AttributeError", "ValueError", "AssertionError", "RuntimeError")
"""A job that failed with one of these met a bug, not a refusal (a refusal's reason is a one-line HitlError)."""


def _finished(fuzzed: dict[str, Any], location: str, headers: dict[str, str]) -> dict[str, Any]:
    """The queued job once it has finished (a job that never does fails the test)."""
    for _ in range(5):
        job = httpx.get(f"{fuzzed['url']}{location}", params={"wait": "true"}, headers=headers, timeout=90).json()
        if job["status"] in ("done", "failed"):
            return dict(job)
    raise AssertionError(f"the job {location} did not finish: {job}")


def _on_agent(case: Any, agent: str) -> Any:
    if isinstance(case.body, dict):
        case.body["agent"] = agent
    return case


def test_no_server_error_and_no_change_on_refusal(fuzzed: dict[str, Any]) -> None:
    api = schemathesis.openapi.from_url(f"{fuzzed['url']}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 12
    headers = {"Authorization": f"Bearer {fuzzed['token']}"}
    queued: list[str] = []
    for operation in operations:
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            *api.get_strategies_from_examples(operation),
        ]
        if operation.path == "/runs":  # generated bodies on the real agents too, not only on made-up names
            strategies.append(
                st.builds(_on_agent, operation.as_strategy(GenerationMode.POSITIVE), st.sampled_from(AGENTS))
            )
        cases = st.one_of(*strategies)

        @given(case=cases)
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def refusals_change_nothing(case: Any) -> None:
            before = digest(fuzzed["db"])
            response = case.call(base_url=fuzzed["url"], headers=headers)
            where = f"{case.method} {case.formatted_path} {case.query or ''} {case.body!r:.300}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
            if response.status_code == 202:  # queued: let its job finish, and it must not fail with a 5xx-like bug
                job = _finished(fuzzed, response.headers["location"][0], headers)
                queued.append(job["status"])
                assert job["status"] == "done" or not job["error"].startswith(BUGS), f"{where}: {job}"
            if response.status_code >= 400:
                assert response.headers["content-type"][0] == "application/problem+json", where
                problem = response.json()
                assert problem["status"] == response.status_code and "\n" not in problem["detail"], where
                after = digest(fuzzed["db"])
                if response.status_code == 401:  # a wrong credential is counted and audited, by design
                    after = {k: v for k, v in after.items() if k not in ("login_throttle", "audit_events")}
                    before = {k: v for k, v in before.items() if k in after}
                assert after == before, f"{where}: a refusal ({response.status_code}) changed state"

        refusals_change_nothing()
    # Generated runs may all be refused on a given day (that says nothing about the queue): a known-good
    # one must go through the queue and a worker and finish as done, whatever was generated before it.
    accepted = httpx.post(
        f"{fuzzed['url']}/runs",
        json={"agent": "support", "message": "What are your support hours?"},
        headers=headers,
        timeout=60,
    )
    assert accepted.status_code == 202, accepted.text
    assert _finished(fuzzed, accepted.headers["location"], headers)["status"] == "done"
    assert all(status in ("done", "failed") for status in queued)
