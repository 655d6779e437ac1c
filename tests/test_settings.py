"""Configuration: one pydantic-settings model, read at the edge, bad values refused in one line.

Also: the environment is read nowhere else in product code (except where a comment says why),
strict msgpack is on wherever a process starts whatever was imported first, and the README's
Configuration table names every variable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hitl_core.errors import BadInput
from hitl_core.settings import Settings, configured, variable

REPO = Path(__file__).resolve().parent.parent
VARIABLES = [variable(name) for name in Settings.model_fields] + ["OTEL_EXPORTER_OTLP_ENDPOINT"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No configuration variable set, whatever the developer's shell has."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("HITL_DATABASE_URL", "sqlite:///x.db", "database_url", "sqlite:///x.db"),
        ("OPENAI_API_KEY", "sk-test", "openai_api_key", "sk-test"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1", "openai_base_url", "http://127.0.0.1:8000/v1"),
        ("HITL_MODEL", "qwen", "model_name", "qwen"),
        ("HITL_LEASE_SECONDS", "12.5", "lease_seconds", 12.5),
        ("HITL_RESUME_GRACE_SECONDS", "0", "resume_grace_seconds", 0.0),
        ("HITL_SCENARIO_DIRS", f"a{os.pathsep}{os.pathsep}b", "scenario_dirs", ("a", "b")),
        ("HITL_LESSON_DATASETS", f"x.jsonl{os.pathsep}y.jsonl", "lesson_datasets", ("x.jsonl", "y.jsonl")),
        ("HITL_AGENTS", "pkg.mod, other:AGENT,", "agents", ("pkg.mod", "other:AGENT")),
        ("HITL_POLICY_DIR", "/policies", "policy_dir", "/policies"),
        ("HITL_CALIBRATION_DIR", "/calibration", "calibration_dir", "/calibration"),
        ("HITL_UI_REFRESH_SECONDS", "1", "ui_refresh_seconds", 1.0),
        ("HITL_DEMO", "1", "demo", True),
        ("HITL_TRACING", "console", "tracing", "console"),
        ("OTEL_TRACES_EXPORTER", "otlp", "otel_traces_exporter", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", "otel_endpoint", "http://collector:4318"),
        ("OTEL_SDK_DISABLED", "TRUE", "otel_sdk_disabled", True),
        ("OTEL_SDK_DISABLED", "yes", "otel_sdk_disabled", False),  # only "true" disables (the OTel spec)
    ],
)
def test_each_field_reads_its_variable(clean_env, name, value, field, expected):
    clean_env.setenv(name, value)
    assert getattr(Settings(), field) == expected


def test_defaults_and_empty_values_mean_unset(clean_env):
    clean_env.setenv("HITL_MODEL", "")
    clean_env.setenv("HITL_LEASE_SECONDS", "")
    clean_env.setenv("OPENAI_API_KEY", "")
    settings = Settings()
    assert settings.database_url == "sqlite:///.hitl/hitl.db"
    assert settings.model_name == "gpt-4o-mini" and settings.lease_seconds == 60.0
    assert settings.openai_api_key is None and settings.scenario_dirs == () and settings.policy_dir is None


def test_the_traces_endpoint_wins_over_the_general_one(clean_env):
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318")
    clean_env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/v1/traces")
    assert Settings().otel_endpoint == "http://traces:4318/v1/traces"


def test_cache_dir_falls_back_to_xdg_then_home(clean_env, tmp_path):
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings().cache_dir == str(tmp_path / "xdg" / "hitl-agents")
    clean_env.delenv("XDG_CACHE_HOME")
    clean_env.setenv("HOME", str(tmp_path / "home"))
    assert Settings().cache_dir == str(tmp_path / "home" / ".cache" / "hitl-agents")
    clean_env.setenv("HITL_CACHE_DIR", str(tmp_path / "mine"))
    assert Settings().cache_dir == str(tmp_path / "mine")


def test_keywords_win_the_object_is_frozen_and_copies_are_explicit(clean_env):
    clean_env.setenv("HITL_DATABASE_URL", "sqlite:///from-env.db")
    clean_env.setenv("HITL_LEASE_SECONDS", "5")
    settings = Settings(database_url="sqlite:///given.db", resume_grace_seconds=0.0)
    assert (settings.database_url, settings.lease_seconds, settings.resume_grace_seconds) == (
        "sqlite:///given.db",
        5.0,
        0.0,
    )
    with pytest.raises(Exception, match="frozen"):
        settings.lease_seconds = 1.0  # type: ignore[misc]
    copy = settings.model_copy(update={"resume_grace_seconds": 7.0})
    assert copy.resume_grace_seconds == 7.0 and settings.resume_grace_seconds == 0.0
    with pytest.raises(BadInput, match="unknown setting 'no_such_thing'"):
        Settings(no_such_thing=1)


def test_secrets_stay_out_of_repr(clean_env):
    text = repr(Settings(openai_api_key="sk-secret-value", audit_key="k" * 32, token="hitl_tok"))
    assert "sk-secret-value" not in text and "k" * 32 not in text and "hitl_tok" not in text


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("HITL_LEASE_SECONDS", "abc", "valid number"),
        ("HITL_LEASE_SECONDS", "0", "greater than 0"),
        ("HITL_LEASE_SECONDS", "nan", "finite number"),
        ("HITL_RESUME_GRACE_SECONDS", "-1", "greater than or equal to 0"),
        ("HITL_UI_REFRESH_SECONDS", "0.1", "greater than or equal to 0.5"),
        ("HITL_DEMO", "perhaps", "valid boolean"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(clean_env, name, value, why):
    clean_env.setenv(name, value)
    with pytest.raises(BadInput) as caught:
        Settings()
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r}: ") and why in message
    assert "\n" not in message


def test_cli_refuses_a_bad_setting_in_one_line_and_writes_nothing(tmp_path):
    database = tmp_path / "never.db"
    env = {
        **{k: v for k, v in os.environ.items() if k not in VARIABLES},
        "HITL_DATABASE_URL": f"sqlite:///{database}",
        "HITL_LEASE_SECONDS": "abc",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", "run", "support", "What are your hours?"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "hitl: HITL_LEASE_SECONDS='abc': Input should be a valid number, unable to parse string as a number"
    ]
    assert not database.exists() and list(tmp_path.iterdir()) == []


def test_configured_follows_the_environment_and_reuses_the_object(clean_env, tmp_path):
    clean_env.setenv("HITL_POLICY_DIR", str(tmp_path / "a"))
    first = configured()
    assert first.policy_dir == str(tmp_path / "a") and configured() is first
    clean_env.setenv("HITL_POLICY_DIR", str(tmp_path / "b"))
    assert configured().policy_dir == str(tmp_path / "b")


def test_settings_are_passed_down_to_lessons_and_calibration(clean_env, tmp_path):
    from guardrails.calibration import CALIBRATION_DIR, calibration_dir
    from hitl_runtime.lessons import default_datasets

    given = Settings(lesson_datasets=("one.jsonl", "two.jsonl"), calibration_dir=str(tmp_path))
    assert default_datasets("support", given) == [Path("one.jsonl"), Path("two.jsonl")]
    (tmp_path / "support.jsonl").write_text("")
    assert default_datasets("support", Settings(scenario_dirs=(str(tmp_path),))) == [tmp_path / "support.jsonl"]
    assert calibration_dir(given) == tmp_path
    assert calibration_dir(Settings()) == CALIBRATION_DIR


def test_the_app_reads_its_settings_at_its_edge(clean_env):
    from ui import services

    assert services.refresh_seconds() == 3.0 and services.demo() is False
    clean_env.setenv("HITL_UI_REFRESH_SECONDS", "1")
    clean_env.setenv("HITL_DEMO", "true")
    assert services.refresh_seconds() == 1.0 and services.demo() is True


# -- the environment is read in one place ---------------------------------------------------------
PRODUCT = ["hitl_core", "hitl_runtime", "hitl_lab", "hitl_cli", "hitl_api", "graphs", "nodes", "guardrails", "ui"]
ENVIRONMENT_READERS = {
    "hitl_core/settings.py": "the one model of the configuration",
    "hitl_core/strict_msgpack.py": "sets LangGraph's variable where processes start",
    "hitl_core/faults.py": "a test hook a parent sets for one child process",
    "hitl_core/embeddings.py": "the Hugging Face libraries' own switches",
    "hitl_lab/soak.py": "the environment of the child processes it starts",
    "hitl_lab/bench.py": "the environment of the API server it starts",
    "hitl_lab/bench_ui.py": "the environment of the review app it starts",
    "hitl_cli/main.py": "the environment of the app it starts",
}


def test_product_code_reads_the_environment_only_where_it_says_why():
    found = {
        str(path.relative_to(REPO))
        for package in PRODUCT
        for path in (REPO / package).rglob("*.py")
        if re.search(r"\bos\.environ\b|\bgetenv\(", path.read_text(encoding="utf-8"))
    }
    assert found - set(ENVIRONMENT_READERS) == set(), "read settings through hitl_core.settings instead"


def test_every_variable_is_in_the_readme_configuration_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in VARIABLES if f"`{name}`" not in section]
    assert missing == []


# -- strict msgpack wherever a process starts ------------------------------------------------------
def _strict_after(code: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "LANGGRAPH_STRICT_MSGPACK"}
    probe = (
        f"{code}\n"
        "import json, os\n"
        "from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer\n"
        "print(json.dumps({'env': os.environ.get('LANGGRAPH_STRICT_MSGPACK'),"
        " 'allowed': JsonPlusSerializer()._allowed_msgpack_modules is None}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_strict_msgpack_does_not_depend_on_import_order():
    assert _strict_after("import langgraph.checkpoint.serde.jsonplus") == {"env": None, "allowed": False}
    late = "import langgraph.checkpoint.serde.jsonplus\nfrom hitl_core.strict_msgpack import enable_strict_msgpack\nenable_strict_msgpack()"
    assert _strict_after(late) == {"env": "true", "allowed": True}


def test_the_cli_switches_strict_msgpack_on_before_anything_else(monkeypatch):
    from langgraph.checkpoint.serde import _msgpack

    from hitl_cli.main import main

    monkeypatch.setattr(_msgpack, "STRICT_MSGPACK_ENABLED", False)
    monkeypatch.setenv("LANGGRAPH_STRICT_MSGPACK", "false")
    assert main(["no-such-command"]) == 2
    assert _msgpack.STRICT_MSGPACK_ENABLED is True and os.environ["LANGGRAPH_STRICT_MSGPACK"] == "true"


def test_the_checkpointer_is_strict_on_its_own():
    from hitl_core.checkpointing import strict_serializer

    serializer = strict_serializer()
    assert serializer._allowed_msgpack_modules is None and serializer.pickle_fallback is False


@pytest.mark.parametrize("notebook", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_notebook_switches_strict_msgpack_on_first(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    first_code = next(cell for cell in cells if cell["cell_type"] == "code")
    assert "enable_strict_msgpack()" in "".join(first_code["source"])
