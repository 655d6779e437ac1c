"""Settings read from the environment once, at the edge (CLI, app, tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///.hitl/hitl.db"


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration; every field has an environment variable."""

    database_url: str = field(default_factory=lambda: os.environ.get("HITL_DATABASE_URL", DEFAULT_DATABASE_URL))
    """`HITL_DATABASE_URL`: SQLAlchemy-style URL, `sqlite:///file.db` or `postgresql://...`."""

    openai_api_key: str | None = field(default_factory=lambda: os.environ.get("OPENAI_API_KEY"))
    """`OPENAI_API_KEY`: when set, agents use ChatOpenAI instead of the offline model."""

    openai_base_url: str | None = field(default_factory=lambda: os.environ.get("OPENAI_BASE_URL"))
    """`OPENAI_BASE_URL`: any OpenAI-compatible server (vLLM, Ollama, llama.cpp)."""

    model_name: str = field(default_factory=lambda: os.environ.get("HITL_MODEL", "gpt-4o-mini"))
    """`HITL_MODEL`: the chat model's name on that server."""

    embedding_model: str = field(default_factory=lambda: os.environ.get("HITL_EMBEDDING_MODEL") or "all-MiniLM-L6-v2")
    """`HITL_EMBEDDING_MODEL`: the sentence-embedding model of the intent and evidence signals: a name
    (the packaged all-MiniLM-L6-v2, or one in the local Hugging Face cache) or a model folder."""

    cache_dir: str = field(
        default_factory=lambda: (
            os.environ.get("HITL_CACHE_DIR")
            or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hitl-agents")
        )
    )
    """`HITL_CACHE_DIR`: where embeddings of fixed texts (intent examples, knowledge files) are kept."""

    lease_seconds: float = field(default_factory=lambda: float(os.environ.get("HITL_LEASE_SECONDS", "60")))
    """`HITL_LEASE_SECONDS`: how long a process owns a thread before another may take it over."""

    resume_grace_seconds: float = field(
        default_factory=lambda: float(os.environ.get("HITL_RESUME_GRACE_SECONDS", "30"))
    )
    """`HITL_RESUME_GRACE_SECONDS`: a decision not applied after this long is finished by sweep."""

    audit_key: str | None = field(default_factory=lambda: os.environ.get("HITL_AUDIT_KEY") or None, repr=False)
    """`HITL_AUDIT_KEY`: the audit chain's HMAC key (hex, or text of at least 16 bytes); kept out of the database."""

    audit_key_file: str | None = field(default_factory=lambda: os.environ.get("HITL_AUDIT_KEY_FILE") or None)
    """`HITL_AUDIT_KEY_FILE`: a file holding that key when `HITL_AUDIT_KEY` is unset; by default `audit.key`
    beside an SQLite database file, or `.hitl/audit.key` in the working directory for PostgreSQL, created
    (mode 0600) on first use."""

    scenario_dirs: tuple[str, ...] = field(
        default_factory=lambda: tuple(p for p in os.environ.get("HITL_SCENARIO_DIRS", "").split(os.pathsep) if p)
    )
    """`HITL_SCENARIO_DIRS`: folders of scenario sets (`<agent>.jsonl`, `<agent>_holdout.jsonl`), separated by
    the path separator; a lesson's regression gate and the simulations read them. The repository's own
    sets are `tests/scenarios` and `tests/scenarios/shared` (the README's commands name them)."""

    tracing: str = field(default_factory=lambda: os.environ.get("HITL_TRACING", ""))
    """`HITL_TRACING`: OpenTelemetry spans: `otlp` (over HTTP), `console` (stderr) or `off`; unset, the standard
    variables below decide. Every span is masked (hitl_core/tracing.py)."""

    otel_traces_exporter: str = field(default_factory=lambda: os.environ.get("OTEL_TRACES_EXPORTER", ""))
    """`OTEL_TRACES_EXPORTER`: `otlp` or `console` switches spans on, `none` keeps them off."""

    otel_endpoint: str | None = field(
        default_factory=lambda: (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or None
        )
    )
    """`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`: set, spans go there (OTLP over HTTP)."""

    otel_sdk_disabled: bool = field(
        default_factory=lambda: os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    )
    """`OTEL_SDK_DISABLED=true`: no spans, whatever else is set."""
