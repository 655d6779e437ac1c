"""Settings read from the environment once, at the edge (CLI, app, tests), and passed down.

One pydantic-settings model names every variable, its default and its check; a bad value is a
one-line `BadInput` naming the variable. Empty values count as unset. Lists are not JSON: folders
and files are separated by `os.pathsep`, agent references by commas.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from hitl_core.errors import BadInput

DEFAULT_DATABASE_URL = "sqlite:///.hitl/hitl.db"


def _default_cache_dir() -> str:
    # The XDG fallback is part of this variable's default, so it is read here with the rest.
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hitl-agents")


def _env(*names: str) -> Any:
    return Field(validation_alias=AliasChoices(*names)) if len(names) > 1 else Field(validation_alias=names[0])


class Settings(BaseSettings):
    """Process-wide configuration; every field has an environment variable (see README, Configuration)."""

    model_config = SettingsConfigDict(
        frozen=True,
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        case_sensitive=True,
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias="HITL_DATABASE_URL", min_length=1)
    """`HITL_DATABASE_URL`: SQLAlchemy-style URL, `sqlite:///file.db` or `postgresql://...`."""

    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY", repr=False)
    """`OPENAI_API_KEY`: when set, agents use ChatOpenAI instead of the offline model."""

    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    """`OPENAI_BASE_URL`: any OpenAI-compatible server (vLLM, Ollama, llama.cpp)."""

    langgraph_url: str | None = Field(None, validation_alias="HITL_LANGGRAPH_URL")
    """`HITL_LANGGRAPH_URL`: the LangGraph Server that runs threads started there (README, "Deploying on
    LangGraph Server"); decisions and expiries on those threads resume them through it."""

    langgraph_token: str | None = Field(None, validation_alias="HITL_LANGGRAPH_TOKEN", repr=False)
    """`HITL_LANGGRAPH_TOKEN`: the API token the runtime sends to that server (an account with a role
    beyond `end_user`, so that it reaches every thread; it resumes only decisions already recorded)."""

    langgraph_agents: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="HITL_LANGGRAPH_AGENTS")
    """`HITL_LANGGRAPH_AGENTS`: the agents whose new turns start on that server (comma-separated), as
    the server's `langgraph.json` serves them; unset, every turn starts in this runtime."""

    model_name: str = Field("gpt-4o-mini", validation_alias="HITL_MODEL")
    """`HITL_MODEL`: the chat model's name on that server."""

    embedding_model: str = Field("all-MiniLM-L6-v2", validation_alias="HITL_EMBEDDING_MODEL")
    """`HITL_EMBEDDING_MODEL`: the sentence-embedding model of the intent and evidence signals: a name
    (the packaged all-MiniLM-L6-v2, or one in the local Hugging Face cache) or a model folder."""

    cache_dir: str = Field(default_factory=_default_cache_dir, validation_alias="HITL_CACHE_DIR")
    """`HITL_CACHE_DIR`: where embeddings of fixed texts (intent examples, knowledge files) are kept;
    unset, `$XDG_CACHE_HOME/hitl-agents`, else `~/.cache/hitl-agents`."""

    lease_seconds: float = Field(60.0, validation_alias="HITL_LEASE_SECONDS", gt=0, allow_inf_nan=False)
    """`HITL_LEASE_SECONDS`: how long a process owns a thread before another may take it over."""

    resume_grace_seconds: float = Field(30.0, validation_alias="HITL_RESUME_GRACE_SECONDS", ge=0, allow_inf_nan=False)
    """`HITL_RESUME_GRACE_SECONDS`: a decision not applied after this long is finished by sweep."""

    sweep_interval_seconds: float = Field(
        15.0, validation_alias="HITL_SWEEP_INTERVAL_SECONDS", gt=0, le=3600, allow_inf_nan=False
    )
    """`HITL_SWEEP_INTERVAL_SECONDS`: how often the worker (or the in-process scheduler) runs the sweep."""

    notify_interval_seconds: float = Field(
        10.0, validation_alias="HITL_NOTIFY_INTERVAL_SECONDS", gt=0, le=3600, allow_inf_nan=False
    )
    """`HITL_NOTIFY_INTERVAL_SECONDS`: how often the worker delivers due notifications (and writes deadline
    warnings); a notification waits at most this long after its cause committed."""

    audit_checkpoint_seconds: float = Field(
        60.0, validation_alias="HITL_AUDIT_CHECKPOINT_SECONDS", gt=0, le=86400, allow_inf_nan=False
    )
    """`HITL_AUDIT_CHECKPOINT_SECONDS`: how often the worker signs the audit chains' heads (`hitl audit checkpoint`)."""

    worker_concurrency: int = Field(2, validation_alias="HITL_WORKER_CONCURRENCY", ge=1, le=64)
    """`HITL_WORKER_CONCURRENCY`: jobs one worker process runs at once (`hitl worker --concurrency`)."""

    worker_heartbeat_seconds: float = Field(
        10.0, validation_alias="HITL_WORKER_HEARTBEAT_SECONDS", gt=0, allow_inf_nan=False
    )
    """`HITL_WORKER_HEARTBEAT_SECONDS`: a worker's heartbeat; a job of a worker silent for three of them is
    queued again (a killed worker's job is picked up by another)."""

    worker_poll_seconds: float = Field(1.0, validation_alias="HITL_WORKER_POLL_SECONDS", gt=0, allow_inf_nan=False)
    """`HITL_WORKER_POLL_SECONDS`: how often an idle worker looks for due jobs (PostgreSQL also wakes it at once)."""

    audit_key: str | None = Field(None, validation_alias="HITL_AUDIT_KEY", repr=False)
    """`HITL_AUDIT_KEY`: the audit chain's HMAC key (hex, or text of at least 16 bytes); kept out of the database."""

    audit_key_file: str | None = Field(None, validation_alias="HITL_AUDIT_KEY_FILE")
    """`HITL_AUDIT_KEY_FILE`: a file holding that key when `HITL_AUDIT_KEY` is unset; by default `audit.key`
    beside an SQLite database file, or `.hitl/audit.key` in the working directory for PostgreSQL, created
    (mode 0600) on first use."""

    scenario_dirs: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="HITL_SCENARIO_DIRS")
    """`HITL_SCENARIO_DIRS`: folders of scenario sets (`<agent>.jsonl`, `<agent>_holdout.jsonl`), separated by
    the path separator; a lesson's regression gate and the simulations read them. The repository's own
    sets are `tests/scenarios` and `tests/scenarios/shared` (the README's commands name them)."""

    lesson_datasets: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="HITL_LESSON_DATASETS")
    """`HITL_LESSON_DATASETS`: scenario files (path-separator-separated) a lesson is evaluated on; unset,
    the agent's sets in `scenario_dirs`."""

    policy_dir: str | None = Field(None, validation_alias="HITL_POLICY_DIR")
    """`HITL_POLICY_DIR`: a folder of `<agent>.yaml` policies used instead of the agents' own files."""

    calibration_dir: str | None = Field(None, validation_alias="HITL_CALIBRATION_DIR")
    """`HITL_CALIBRATION_DIR`: where calibration files `<agent>.json` are read and written; unset, the
    shipped `guardrails/calibration`."""

    agents: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="HITL_AGENTS")
    """`HITL_AGENTS`: more agents, comma-separated `module` or `module:attribute` references."""

    token: str | None = Field(None, validation_alias="HITL_TOKEN", repr=False)
    """`HITL_TOKEN`: the command line's API token, proving who runs a command."""

    ui_refresh_seconds: float = Field(3.0, validation_alias="HITL_UI_REFRESH_SECONDS", ge=0.5, allow_inf_nan=False)
    """`HITL_UI_REFRESH_SECONDS`: how often the app's chat, inbox and review status refresh themselves."""

    login_max_failures: int = Field(5, validation_alias="HITL_LOGIN_MAX_FAILURES", gt=0)
    """`HITL_LOGIN_MAX_FAILURES`: failed logins on one account name within the window that lock it."""

    login_client_max_failures: int = Field(20, validation_alias="HITL_LOGIN_CLIENT_MAX_FAILURES", gt=0)
    """`HITL_LOGIN_CLIENT_MAX_FAILURES`: failed logins from one client, on any names, that lock the client."""

    login_window_seconds: float = Field(900.0, validation_alias="HITL_LOGIN_WINDOW_SECONDS", gt=0, allow_inf_nan=False)
    """`HITL_LOGIN_WINDOW_SECONDS`: how far back failed logins count."""

    login_lockout_seconds: float = Field(
        900.0, validation_alias="HITL_LOGIN_LOCKOUT_SECONDS", gt=0, allow_inf_nan=False
    )
    """`HITL_LOGIN_LOCKOUT_SECONDS`: how long a lock lasts (it expires on its own)."""

    session_seconds: float = Field(8 * 3600.0, validation_alias="HITL_SESSION_SECONDS", gt=0, allow_inf_nan=False)
    """`HITL_SESSION_SECONDS`: an app session ends this long after login, however active."""

    session_idle_seconds: float = Field(1800.0, validation_alias="HITL_SESSION_IDLE_SECONDS", gt=0, allow_inf_nan=False)
    """`HITL_SESSION_IDLE_SECONDS`: an app session ends after this long without activity."""

    cookie_secure: Literal["auto", "true", "false"] = Field("auto", validation_alias="HITL_COOKIE_SECURE")
    """`HITL_COOKIE_SECURE`: the session cookie's Secure flag: `true`, `false`, or `auto` (when served over https)."""

    api_host: str = Field("127.0.0.1", validation_alias="HITL_API_HOST", min_length=1)
    """`HITL_API_HOST`: the interface `hitl serve` listens on (default this machine only; 0.0.0.0 for every one)."""

    api_port: int = Field(8000, validation_alias="HITL_API_PORT", ge=1, le=65535)
    """`HITL_API_PORT`: the port `hitl serve` listens on."""

    api_pool_size: int = Field(20, validation_alias="HITL_API_POOL_SIZE", ge=1, le=500)
    """`HITL_API_POOL_SIZE`: database connections the HTTP API's process may hold (requests run in threads)."""

    api_wait_max_seconds: float = Field(
        60.0, validation_alias="HITL_API_WAIT_MAX_SECONDS", ge=0, le=600, allow_inf_nan=False
    )
    """`HITL_API_WAIT_MAX_SECONDS`: the longest the HTTP API holds a request waiting for its job (`Prefer: wait=N`
    is capped at this; `?wait=true` waits this long)."""

    jwt_issuer: str | None = Field(None, validation_alias="HITL_JWT_ISSUER")
    """`HITL_JWT_ISSUER`: the identity provider whose JWTs the HTTP API accepts (the `iss` claim); unset, API
    tokens only. Needs `HITL_JWT_AUDIENCE` and one key source: `HITL_JWT_JWKS_URL`, `HITL_JWT_PUBLIC_KEY`
    or `HITL_JWT_SECRET`."""

    jwt_audience: str | None = Field(None, validation_alias="HITL_JWT_AUDIENCE")
    """`HITL_JWT_AUDIENCE`: the `aud` a JWT must name (this API's client id at the provider)."""

    jwt_jwks_url: str | None = Field(None, validation_alias="HITL_JWT_JWKS_URL")
    """`HITL_JWT_JWKS_URL`: the provider's JSON Web Key Set (keys picked by the token's `kid`, cached)."""

    jwt_public_key: str | None = Field(None, validation_alias="HITL_JWT_PUBLIC_KEY")
    """`HITL_JWT_PUBLIC_KEY`: a PEM public key (RSA, EC or Ed25519) instead of a key set: the text, or a file path."""

    jwt_secret: str | None = Field(None, validation_alias="HITL_JWT_SECRET", repr=False)
    """`HITL_JWT_SECRET`: a shared HMAC secret (HS256) instead of a public key."""

    jwt_claim: str = Field("sub", validation_alias="HITL_JWT_CLAIM", min_length=1)
    """`HITL_JWT_CLAIM`: the claim holding the account name (default `sub`; `preferred_username`, `email`, ...)."""

    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="HITL_JWT_ALGORITHMS")
    """`HITL_JWT_ALGORITHMS`: accepted signing algorithms, comma-separated; unset, HS256 with a secret, else
    RS256, ES256 and EdDSA. `none` is never accepted."""

    demo: bool = Field(False, validation_alias="HITL_DEMO")
    """`HITL_DEMO`: the app's login page lists the demo accounts (`hitl demo` sets it for the app it starts)."""

    tracing: str = Field("", validation_alias="HITL_TRACING")
    """`HITL_TRACING`: OpenTelemetry spans: `otlp` (over HTTP), `console` (stderr) or `off`; unset, the standard
    variables below decide. Every span is masked (hitl_core/tracing.py)."""

    otel_traces_exporter: str = Field("", validation_alias="OTEL_TRACES_EXPORTER")
    """`OTEL_TRACES_EXPORTER`: `otlp` or `console` switches spans on, `none` keeps them off."""

    otel_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    """`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`: set, spans go there (OTLP over HTTP)."""

    otel_sdk_disabled: bool = Field(False, validation_alias="OTEL_SDK_DISABLED")
    """`OTEL_SDK_DISABLED=true`: no spans, whatever else is set (any other value leaves them on, as the
    OpenTelemetry specification says)."""

    notify_urls: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="HITL_NOTIFY_URLS", repr=False)
    """`HITL_NOTIFY_URLS`: where reviewers (and requesters) are told that something waits: apprise URLs
    separated by whitespace or commas, each optionally prefixed `ROLE=` (no prefix: every reviewer role;
    `requester=`: the requester's notifications). An agent's policy may add its own (`notify:`)."""

    app_url: str = Field("http://127.0.0.1:8501", validation_alias="HITL_APP_URL", pattern=r"^https?://\S+$")
    """`HITL_APP_URL`: the review app's address, for the links in notifications (`/review?id=...`)."""

    webhook_secret: str | None = Field(None, validation_alias="HITL_WEBHOOK_SECRET", repr=False, min_length=16)
    """`HITL_WEBHOOK_SECRET`: signs every generic webhook (`json://`, `jsons://`): HMAC-SHA256 over
    `timestamp.body`; needed as soon as one is configured."""

    notify_deadline_share: float = Field(
        0.75, validation_alias="HITL_NOTIFY_DEADLINE_SHARE", gt=0, lt=1, allow_inf_nan=False
    )
    """`HITL_NOTIFY_DEADLINE_SHARE`: a pending review's reviewers are warned once this share of its window
    (creation to deadline) has passed."""

    notify_max_attempts: int = Field(8, validation_alias="HITL_NOTIFY_MAX_ATTEMPTS", ge=1, le=50)
    """`HITL_NOTIFY_MAX_ATTEMPTS`: tries per notification before it is dead-lettered."""

    notify_backoff_seconds: float = Field(
        30.0, validation_alias="HITL_NOTIFY_BACKOFF_SECONDS", gt=0, allow_inf_nan=False
    )
    """`HITL_NOTIFY_BACKOFF_SECONDS`: the wait after a first failed try, doubled after each further one
    (at most an hour)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise BadInput(_one_line(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keywords, then the environment: no `.env` or secrets folder is read behind the operator's back."""
        return init_settings, env_settings

    @field_validator("scenario_dirs", "lesson_datasets", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        return tuple(p for p in value.split(os.pathsep) if p) if isinstance(value, str) else value

    @field_validator("agents", "jwt_algorithms", "langgraph_agents", mode="before")
    @classmethod
    def _references(cls, value: Any) -> Any:
        return tuple(r.strip() for r in value.split(",") if r.strip()) if isinstance(value, str) else value

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _notify_entries(cls, value: Any) -> Any:
        entries = split_notify_urls(value) if isinstance(value, str) else value
        for number, entry in enumerate(entries, start=1):
            if not isinstance(entry, str) or not _NOTIFY_ENTRY.match(entry):
                raise ValueError(
                    f"entry {number} ({_shown_entry(entry)}) is not an apprise URL: expected [ROLE=]scheme://..."
                )
        return tuple(entries)

    @field_validator("otel_sdk_disabled", mode="before")
    @classmethod
    def _only_true_disables(cls, value: Any) -> Any:
        return value.strip().lower() == "true" if isinstance(value, str) else value


_NOTIFY_ENTRY = re.compile(r"^(?:(?P<role>[a-z][a-z0-9_]{0,39})=)?(?P<url>[A-Za-z][A-Za-z0-9+.-]*://\S+)$")
_NOTIFY_SPLIT = re.compile(r"\s+|,(?=\s*(?:[a-z][a-z0-9_]{0,39}=)?[A-Za-z][A-Za-z0-9+.-]*://)")


def split_notify_urls(text: str) -> tuple[str, ...]:
    """`HITL_NOTIFY_URLS` as entries: split at whitespace, and at a comma only before the next URL.

    A comma inside a URL, as in `mailto://...?to=a@x.org,b@x.org`, stays.
    """
    return tuple(piece.strip(",") for piece in _NOTIFY_SPLIT.split(text) if piece.strip(","))


def notify_entry(entry: str) -> tuple[str | None, str]:
    """An entry of `HITL_NOTIFY_URLS` as (role or None for every role, URL)."""
    found = _NOTIFY_ENTRY.match(entry)
    if found is None:
        raise BadInput(f"HITL_NOTIFY_URLS: {_shown_entry(entry)} is not an apprise URL: expected [ROLE=]scheme://...")
    return found["role"], found["url"]


def _shown_entry(entry: Any) -> str:
    """An entry as an error may quote it: up to its scheme (the rest may hold a token or a password)."""
    text = str(entry)
    head = re.match(r"^(?:[a-z][a-z0-9_]{0,39}=)?[^:/]{0,40}", text)
    shown = head.group(0) if head else ""
    return repr(shown + ("…" if len(shown) < len(text) else ""))


def configured() -> Settings:
    """The environment's settings, for code that has none passed to it (pages, nodes, the registry).

    Rebuilt only when one of the variables changes, so calling it on every step costs a few lookups.
    """
    return _configured(tuple(os.environ.get(name) for name in _READS))


@lru_cache(maxsize=8)
def _configured(_values: tuple[str | None, ...]) -> Settings:
    return Settings()


def variable(field: str) -> str:
    """The environment variable of a field (the first one, for a field with several)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or field)


_SECRET = {"openai_api_key", "audit_key", "token", "jwt_secret", "notify_urls", "webhook_secret"}


def _one_line(exc: ValidationError) -> str:
    """The first problem, naming the variable (and its value, unless it is a secret)."""
    error = exc.errors(include_url=False)[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    if field not in Settings.model_fields:  # reported under the alias, or an unknown keyword
        names = {variable(f): f for f in Settings.model_fields}
        field = names.get(field, field)
    if field not in Settings.model_fields:
        return f"settings: unknown setting {field!r}"
    shown = "" if field in _SECRET else f"={error.get('input')!r}"
    return f"{variable(field)}{shown}: {str(error['msg']).removeprefix('Value error, ')}"


_READS = (
    *(
        name
        for info in Settings.model_fields.values()
        for name in (
            info.validation_alias.choices
            if isinstance(info.validation_alias, AliasChoices)
            else [info.validation_alias]
        )
        if isinstance(name, str)
    ),
    "XDG_CACHE_HOME",
    "HOME",
)
"""Every variable `Settings` reads (`cache_dir`'s default reads the last two)."""
