"""One Settings object, read from ``AEGIS_*`` environment variables.

Every process (gateway, workers, beat, CLI) builds its settings from the
environment the same way, so a value set once in a ConfigMap or a shell means the
same thing everywhere. With nothing set, Aegis runs on embedded defaults: SQLite,
a filesystem broker and a local storage folder under ``AEGIS_DATA_DIR``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aegis.ocr.settings import OcrSettings
from aegis.pipeline.registry import REGISTRY

# Hard time limit per stage, in seconds, declared by the stage registry. The soft
# limit is a fraction of it so the task can record a clean `timeout` first.
DEFAULT_TIME_LIMITS: dict[str, int] = REGISTRY.default_time_limits()


def soft_limit(hard: int) -> int:
    """The soft limit leaves the task time to record why it stopped."""
    return max(1, hard - max(2, hard // 10))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the embedded defaults filled in."""

    data_dir: Path
    database_url: str
    broker_url: str
    events_url: str | None
    storage_dir: Path
    max_upload_bytes: int
    max_pages: int
    max_text_chars: int
    parser_memory_mb: int
    time_limits: dict[str, int]
    max_attempts: int
    visibility_timeout: int
    reconcile_interval: float
    worker_max_memory_kb: int
    ai_provider: str
    vector_store: str
    classification_labels: tuple[str, ...]
    embedding_dim: int
    chunk_chars: int
    chunk_overlap: int
    openai_api_key: str | None
    openai_base_url: str | None
    openai_chat_model: str
    openai_embedding_model: str
    openai_timeout: float
    openai_max_retries: int
    openai_context_tokens: int
    tenant_token_budget: int
    local_embeddings: str
    openai_embedding_dimensions: int
    openai_embedding_batch: int
    openai_max_output_tokens: int
    openai_output_attempts: int
    pinecone_batch_size: int
    pinecone_timeout: float
    pinecone_api_key: str | None
    pinecone_index: str | None
    pinecone_host: str | None
    log_level: str
    log_json: bool
    heartbeat_file: Path | None
    allow_private_webhooks: bool
    webhook_secret: str | None
    extra: dict[str, str] = field(default_factory=dict)
    #: AEGIS_OCR, AEGIS_OCR_* (aegis/ocr/settings.py validates them).
    ocr: OcrSettings = field(default_factory=OcrSettings)

    @property
    def embedded_broker(self) -> bool:
        """True when the broker needs no server (filesystem transport)."""
        return self.broker_url.startswith("filesystem://")

    def soft_time_limit(self, stage: str) -> int:
        return soft_limit(self.time_limits[stage])

    def broker_folder(self) -> Path:
        return self.data_dir / "broker"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ``env`` (defaults to ``os.environ``)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("AEGIS_DATA_DIR", "aegis-data")).resolve()
    database_url = env.get("AEGIS_DATABASE_URL") or f"sqlite:///{data_dir / 'aegis.db'}"
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; spell it out for SQLAlchemy.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    broker_url = env.get("AEGIS_BROKER_URL") or "filesystem://"
    events_url = env.get("AEGIS_EVENTS_URL") or (
        broker_url if broker_url.startswith(("redis://", "rediss://")) else None
    )
    time_limits = {
        stage: _int(env, f"AEGIS_TIME_LIMIT_{stage.upper()}", default)
        for stage, default in DEFAULT_TIME_LIMITS.items()
    }
    visibility_timeout = _int(env, "AEGIS_VISIBILITY_TIMEOUT", 3600)
    if visibility_timeout <= max(time_limits.values()):
        raise ValueError(
            "AEGIS_VISIBILITY_TIMEOUT must exceed every stage's time limit, "
            "or Redis would redeliver tasks that are still running"
        )
    heartbeat = env.get("AEGIS_HEARTBEAT_FILE", "").strip()
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        events_url=events_url,
        storage_dir=Path(env.get("AEGIS_STORAGE_DIR") or data_dir / "storage").resolve(),
        max_upload_bytes=_int(env, "AEGIS_MAX_UPLOAD_BYTES", 100 * 1024 * 1024),
        max_pages=_int(env, "AEGIS_MAX_PAGES", 5000),
        max_text_chars=_int(env, "AEGIS_MAX_TEXT_CHARS", 20_000_000),
        parser_memory_mb=_int(env, "AEGIS_PARSER_MEMORY_MB", 2048),
        time_limits=time_limits,
        max_attempts=_int(env, "AEGIS_MAX_ATTEMPTS", 3),
        visibility_timeout=visibility_timeout,
        reconcile_interval=_float(env, "AEGIS_RECONCILE_INTERVAL", 30.0),
        worker_max_memory_kb=_int(env, "AEGIS_WORKER_MAX_MEMORY_KB", 1_048_576),
        ai_provider=env.get("AEGIS_AI_PROVIDER", "local"),
        vector_store=env.get("AEGIS_VECTOR_STORE", "local"),
        classification_labels=_list(
            env,
            "AEGIS_CLASSIFICATION_LABELS",
            ("invoice", "contract", "report", "scientific paper", "letter", "form",
             "presentation", "manual", "email", "other"),
        ),
        embedding_dim=_int(env, "AEGIS_EMBEDDING_DIM", 384),
        chunk_chars=_int(env, "AEGIS_CHUNK_CHARS", 1500),
        chunk_overlap=_int(env, "AEGIS_CHUNK_OVERLAP", 200),
        openai_api_key=env.get("OPENAI_API_KEY") or None,
        openai_base_url=env.get("OPENAI_BASE_URL") or None,
        openai_chat_model=env.get("AEGIS_OPENAI_CHAT_MODEL", "gpt-4o-mini"),
        openai_embedding_model=env.get("AEGIS_OPENAI_EMBEDDING_MODEL", "text-embedding-3-small"),
        openai_timeout=_float(env, "AEGIS_OPENAI_TIMEOUT", 60.0),
        openai_max_retries=_int(env, "AEGIS_OPENAI_MAX_RETRIES", 5),
        openai_context_tokens=_int(env, "AEGIS_OPENAI_CONTEXT_TOKENS", 100_000),
        tenant_token_budget=_int(env, "AEGIS_TENANT_TOKEN_BUDGET", 0),
        local_embeddings=env.get("AEGIS_LOCAL_EMBEDDINGS", "hashing").strip().lower() or "hashing",
        openai_embedding_dimensions=_int(env, "AEGIS_OPENAI_EMBEDDING_DIMENSIONS", 0),
        openai_embedding_batch=_int(env, "AEGIS_OPENAI_EMBEDDING_BATCH", 100),
        openai_max_output_tokens=_int(env, "AEGIS_OPENAI_MAX_OUTPUT_TOKENS", 1024),
        openai_output_attempts=_int(env, "AEGIS_OPENAI_OUTPUT_ATTEMPTS", 3),
        pinecone_batch_size=_int(env, "AEGIS_PINECONE_BATCH_SIZE", 100),
        pinecone_timeout=_float(env, "AEGIS_PINECONE_TIMEOUT", 30.0),
        pinecone_api_key=env.get("PINECONE_API_KEY") or None,
        pinecone_index=env.get("AEGIS_PINECONE_INDEX") or None,
        pinecone_host=env.get("AEGIS_PINECONE_HOST") or None,
        log_level=env.get("AEGIS_LOG_LEVEL", "INFO").upper(),
        log_json=_bool(env, "AEGIS_LOG_JSON", True),
        heartbeat_file=Path(heartbeat) if heartbeat else None,
        allow_private_webhooks=_bool(env, "AEGIS_ALLOW_PRIVATE_WEBHOOKS", False),
        webhook_secret=env.get("AEGIS_WEBHOOK_SECRET") or None,
        ocr=OcrSettings.from_env(env),
    )
