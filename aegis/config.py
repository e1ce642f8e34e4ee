"""One Settings object, read from ``AEGIS_*`` environment variables.

Every process (gateway, workers, beat, CLI) builds its settings from the
environment the same way, so a value set once in a ConfigMap or a shell means the
same thing everywhere. With nothing set, Aegis runs on embedded defaults: SQLite,
a filesystem broker and a local storage folder under ``AEGIS_DATA_DIR``, which
defaults to the platform's per-user data directory (``~/.local/share/aegis`` on
Linux) rather than the working directory, so every ``aegis`` command run from any
folder finds the same embedded instance.

Settings fail fast. A typo in a provider name, a missing API key or a time limit
longer than the broker's visibility timeout is a :class:`SettingsError` when the
process starts, with one line that names the variable, instead of every document
failing later with a run-time error. A ``Settings`` object is validated whenever it
is built (``load_settings`` or ``dataclasses.replace``), so code that holds one can
trust every field without re-checking or falling back to defaults.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, NoReturn, TypeVar

from aegis.observability import tracing
from aegis.ocr.settings import OcrSettings, OcrSettingsError
from aegis.pipeline.registry import REGISTRY

# Hard time limit per stage, in seconds, declared by the stage registry. The soft
# limit is a fraction of it so the task can record a clean `timeout` first.
DEFAULT_TIME_LIMITS: dict[str, int] = REGISTRY.default_time_limits()


def soft_limit(hard: int) -> int:
    """The soft limit leaves the task time to record why it stopped."""
    return max(1, hard - max(2, hard // 10))


# One worker process per stage (``aegis dev``, the compose file, the tests): the
# documents the installation runs at once when nothing says otherwise. The chart sets
# AEGIS_PIPELINE_SLOTS from its workers' replicas x concurrency.
DEFAULT_PIPELINE_SLOTS = len(REGISTRY)

AIProviderName = Literal["local", "openai"]
VectorStoreName = Literal["local", "pinecone"]
LocalEmbeddingsName = Literal["hashing", "minilm"]

# Accepted spellings -> the canonical name; older aliases keep working.
AI_PROVIDERS: dict[str, AIProviderName] = {"local": "local", "openai": "openai"}
VECTOR_STORES: dict[str, VectorStoreName] = {"local": "local", "pinecone": "pinecone"}
LOCAL_EMBEDDINGS: dict[str, LocalEmbeddingsName] = {
    "hashing": "hashing", "hash": "hashing", "default": "hashing", "minilm": "minilm",
}

DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
BROKER_SCHEMES = ("filesystem", "redis", "rediss", "sentinel", "amqp", "amqps")
EVENTS_SCHEMES = ("redis", "rediss", "sentinel")
LOG_LEVELS = tuple(logging.getLevelNamesMapping())
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

# The OpenAI provider sends pieces of a document that leave room for the prompt
# and the reply; a context too small for a useful piece is a configuration error.
OPENAI_PROMPT_OVERHEAD_TOKENS = 600
OPENAI_MIN_PIECE_TOKENS = 500
# Service limits: larger values would be silently clamped, so they are refused.
OPENAI_MAX_EMBEDDING_BATCH = 2048
PINECONE_MAX_UPSERT_BATCH = 1000
# Measured on the shared corpus with the local (hashing) embedder: every query written
# from a document scores >= 0.13 on it and a single word on a long chunk that holds it
# about 0.06, while a word in no document scores 0.06-0.14 by fragment collisions alone
# (the word check in aegis/services/search.py removes those);
# tests/unit/test_search_corpus_retrieval.py keeps both sides true.
DEFAULT_SEARCH_MIN_SCORE = 0.05
# Narrower hashing vectors collide too often to rank anything.
MIN_EMBEDDING_DIM = 16

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is malformed, out of range, or missing for the chosen provider.

    Its message is one line that starts with the variable's name, so each entry
    point (gateway, workers, ``aegis`` CLI) can print it as is and exit instead of
    showing a traceback. A ``ValueError`` so older callers that caught that still do.
    """


def exit_on_settings_error(exc: SettingsError, code: int = 2) -> NoReturn:
    """Print the one-line reason on stderr and end the process.

    For process entry points (Celery's config, the gateway's factory): the operator
    reads one line naming the variable, not a stack trace of the import machinery.
    """
    print(f"aegis: error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(code) from None


def _raw(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _raw(env, name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _raw(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Strict: a typo such as ``ture`` must not quietly mean false."""
    raw = _raw(env, name).lower()
    if not raw:
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise SettingsError(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _raw(env, name)
    if not raw:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _choice(env: Mapping[str, str], name: str, choices: Mapping[str, T], default: str) -> T:
    raw = _raw(env, name).lower() or default
    try:
        return choices[raw]
    except KeyError:
        raise SettingsError(f"{name} must be one of {_names(choices)}, got {raw!r}") from None


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    return _int(env, name, 0) if _raw(env, name) else None


def _names(choices: Mapping[str, object]) -> str:
    """The canonical names, for messages (aliases are accepted but not advertised)."""
    return ", ".join(dict.fromkeys(str(v) for v in choices.values()))


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


@dataclass(frozen=True)
class GatewayLimits:
    """What one client may hold of a gateway process (see web/streams.py, web/slowbody.py).

    An upload body must arrive within ``body_timeout`` seconds plus one second per
    ``body_min_rate`` bytes received (Apache mod_reqtimeout's rule), so a client on a
    slow but honest link finishes while one trickling a byte a second is cut off.
    """

    body_timeout: float = 20.0
    body_min_rate: int = 500
    max_streams_per_tenant: int = 20
    max_streams_per_process: int = 500


S3_ADDRESSING_STYLES = ("auto", "path", "virtual")
S3_SSE_MODES = ("AES256", "aws:kms")


@dataclass(frozen=True)
class StorageSettings:
    """Where blobs live (``AEGIS_STORAGE_URL``) and how to reach a bucket (``AEGIS_S3_*``).

    ``bucket`` is None for the volume store (``file://``); credentials and the region
    are not here on purpose: boto3's standard chain reads them (``AWS_*``, web identity).
    """

    url: str = ""
    bucket: str | None = None
    prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_addressing_style: str = "auto"
    s3_sse: str | None = None
    s3_kms_key_id: str | None = None
    #: Local copies of blobs for parsers; removed after each task, stale ones at start.
    temp_dir: Path = Path(tempfile.gettempdir()) / "aegis"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the embedded defaults filled in and validated."""

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
    #: The reconciler checks an epoch marker in the broker to notice one that lost its data.
    broker_loss_check: bool
    #: The Redis master's name Sentinel watches, for sentinel:// broker and events URLs.
    sentinel_master: str
    worker_max_memory_kb: int
    #: Workers send Celery task events (what Flower and ``celery events`` show).
    task_events: bool
    ai_provider: AIProviderName
    vector_store: VectorStoreName
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
    local_embeddings: LocalEmbeddingsName
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
    metrics_port: int | None = None
    #: Search hits scoring below this are not results (see aegis/services/search.py).
    search_min_score: float = DEFAULT_SEARCH_MIN_SCORE
    #: Fair share: a tenant's documents in the queues at once; the rest wait ``queued``
    #: (aegis/pipeline/admission.py). A tenant's own ``max_in_flight`` overrides it.
    tenant_max_in_flight: int = DEFAULT_PIPELINE_SLOTS
    #: Fair share: documents in flight across all tenants that keep every worker busy;
    #: admission stops there so queues stay short and a newly arriving tenant is next.
    pipeline_slots: int = DEFAULT_PIPELINE_SLOTS
    #: Audit events older than this many days are purged by beat (0: kept for ever).
    audit_retention_days: int = 365
    #: Seconds between retention runs (documents past a tenant's retention_days, old audit events).
    retention_interval: float = 3600.0
    extra: dict[str, str] = field(default_factory=dict)
    #: AEGIS_OCR, AEGIS_OCR_* (aegis/ocr/settings.py validates them).
    ocr: OcrSettings = field(default_factory=OcrSettings)
    #: AEGIS_BODY_TIMEOUT, AEGIS_BODY_MIN_RATE, AEGIS_MAX_STREAMS_PER_TENANT, AEGIS_MAX_STREAMS_PER_PROCESS.
    gateway: GatewayLimits = field(default_factory=GatewayLimits)
    #: AEGIS_STORAGE_URL, AEGIS_S3_*, AEGIS_TEMP_DIR.
    storage: StorageSettings = field(default_factory=StorageSettings)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def broker_kind(self) -> Literal["filesystem", "redis", "amqp"]:
        """Which family the broker is: Redis (plain, TLS or Sentinel), RabbitMQ, or embedded."""
        scheme = _scheme(self.broker_url.split(";")[0])
        if scheme in ("amqp", "amqps", "pyamqp"):
            return "amqp"
        return "filesystem" if scheme == "filesystem" else "redis"

    @property
    def embedded_broker(self) -> bool:
        """True when the broker needs no server (filesystem transport)."""
        return self.broker_url.startswith("filesystem://")

    def soft_time_limit(self, stage: str) -> int:
        return soft_limit(self.time_limits[stage])

    def broker_folder(self) -> Path:
        return self.data_dir / "broker"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SettingsError(message)


def _positive(value: float, name: str) -> None:
    _require(value > 0, f"{name} must be greater than 0, got {value}")


def _at_least(value: float, minimum: float, name: str) -> None:
    _require(value >= minimum, f"{name} must be at least {minimum}, got {value}")


def _within(value: int, low: int, high: int, name: str) -> None:
    _require(low <= value <= high, f"{name} must be between {low} and {high}, got {value}")


def _validate(s: Settings) -> None:
    """Every rule a Settings must satisfy; the first broken one raises, naming its variable."""
    # Where things are.
    scheme = _scheme(s.database_url)
    _require(
        scheme in DATABASE_SCHEMES,
        f"AEGIS_DATABASE_URL must start with one of {', '.join(f'{x}://' for x in DATABASE_SCHEMES)}, "
        f"got {scheme + '://' if scheme else repr(s.database_url)}",
    )
    scheme = _scheme(s.broker_url)
    _require(
        scheme in BROKER_SCHEMES,
        f"AEGIS_BROKER_URL must start with one of {', '.join(f'{x}://' for x in BROKER_SCHEMES)}, "
        f"got {scheme + '://' if scheme else repr(s.broker_url)}",
    )
    if s.events_url is not None:
        scheme = _scheme(s.events_url)
        _require(
            scheme in EVENTS_SCHEMES,
            f"AEGIS_EVENTS_URL must be a Redis URL (redis://, rediss:// or sentinel://), "
            f"got {scheme + '://' if scheme else repr(s.events_url)}",
        )
    # Limits.
    _positive(s.max_upload_bytes, "AEGIS_MAX_UPLOAD_BYTES")
    _positive(s.max_pages, "AEGIS_MAX_PAGES")
    _positive(s.max_text_chars, "AEGIS_MAX_TEXT_CHARS")
    _at_least(s.parser_memory_mb, 0, "AEGIS_PARSER_MEMORY_MB")  # 0: no cap
    _at_least(s.worker_max_memory_kb, 0, "AEGIS_WORKER_MAX_MEMORY_KB")  # 0: never recycle
    for stage in DEFAULT_TIME_LIMITS:
        name = f"AEGIS_TIME_LIMIT_{stage.upper()}"
        _require(stage in s.time_limits, f"{name} is missing")
        _positive(s.time_limits[stage], name)
    longest = max(s.time_limits.values())
    _require(
        s.visibility_timeout > longest,
        f"AEGIS_VISIBILITY_TIMEOUT ({s.visibility_timeout}) must exceed every AEGIS_TIME_LIMIT_* "
        f"(longest {longest}), or Redis would redeliver tasks that are still running",
    )
    _at_least(s.max_attempts, 1, "AEGIS_MAX_ATTEMPTS")
    _positive(s.reconcile_interval, "AEGIS_RECONCILE_INTERVAL")
    # AI.
    _require(s.ai_provider in AI_PROVIDERS.values(),
             f"AEGIS_AI_PROVIDER must be one of {_names(AI_PROVIDERS)}, got {s.ai_provider!r}")
    _require(s.vector_store in VECTOR_STORES.values(),
             f"AEGIS_VECTOR_STORE must be one of {_names(VECTOR_STORES)}, got {s.vector_store!r}")
    _require(s.local_embeddings in LOCAL_EMBEDDINGS.values(),
             f"AEGIS_LOCAL_EMBEDDINGS must be one of {_names(LOCAL_EMBEDDINGS)}, got {s.local_embeddings!r}")
    _at_least(s.embedding_dim, MIN_EMBEDDING_DIM, "AEGIS_EMBEDDING_DIM")
    _positive(s.chunk_chars, "AEGIS_CHUNK_CHARS")
    _at_least(s.chunk_overlap, 0, "AEGIS_CHUNK_OVERLAP")
    _require(
        s.chunk_overlap < s.chunk_chars,
        f"AEGIS_CHUNK_OVERLAP ({s.chunk_overlap}) must be less than AEGIS_CHUNK_CHARS ({s.chunk_chars})",
    )
    _require(
        0.0 <= s.search_min_score <= 1.0,
        f"AEGIS_SEARCH_MIN_SCORE must be between 0 and 1, got {s.search_min_score}",
    )
    _at_least(s.tenant_token_budget, 0, "AEGIS_TENANT_TOKEN_BUDGET")  # 0: unlimited
    _at_least(s.pipeline_slots, 1, "AEGIS_PIPELINE_SLOTS")
    _at_least(s.tenant_max_in_flight, 1, "AEGIS_TENANT_MAX_IN_FLIGHT")
    _at_least(s.audit_retention_days, 0, "AEGIS_AUDIT_RETENTION_DAYS")  # 0: kept for ever
    _positive(s.retention_interval, "AEGIS_RETENTION_INTERVAL")
    _positive(s.openai_timeout, "AEGIS_OPENAI_TIMEOUT")
    _at_least(s.openai_max_retries, 0, "AEGIS_OPENAI_MAX_RETRIES")
    _positive(s.openai_max_output_tokens, "AEGIS_OPENAI_MAX_OUTPUT_TOKENS")
    smallest_context = s.openai_max_output_tokens + OPENAI_PROMPT_OVERHEAD_TOKENS + OPENAI_MIN_PIECE_TOKENS
    _require(
        s.openai_context_tokens >= smallest_context,
        f"AEGIS_OPENAI_CONTEXT_TOKENS ({s.openai_context_tokens}) must be at least {smallest_context} "
        f"(AEGIS_OPENAI_MAX_OUTPUT_TOKENS + {OPENAI_PROMPT_OVERHEAD_TOKENS + OPENAI_MIN_PIECE_TOKENS} "
        "for the prompt and a piece of the document)",
    )
    _at_least(s.openai_embedding_dimensions, 0, "AEGIS_OPENAI_EMBEDDING_DIMENSIONS")  # 0: the model's own
    _within(s.openai_embedding_batch, 1, OPENAI_MAX_EMBEDDING_BATCH, "AEGIS_OPENAI_EMBEDDING_BATCH")
    _at_least(s.openai_output_attempts, 1, "AEGIS_OPENAI_OUTPUT_ATTEMPTS")
    if s.openai_base_url is not None:
        _require(
            _scheme(s.openai_base_url) in ("http", "https"),
            f"OPENAI_BASE_URL must be an http:// or https:// URL, got {s.openai_base_url!r}",
        )
    _within(s.pinecone_batch_size, 1, PINECONE_MAX_UPSERT_BATCH, "AEGIS_PINECONE_BATCH_SIZE")
    _positive(s.pinecone_timeout, "AEGIS_PINECONE_TIMEOUT")
    if s.ai_provider == "openai":
        _require(
            bool(s.openai_api_key or s.openai_base_url),
            "OPENAI_API_KEY is required when AEGIS_AI_PROVIDER=openai "
            "(or set OPENAI_BASE_URL to a compatible server that needs no key)",
        )
    if s.vector_store == "pinecone":
        _require(bool(s.pinecone_api_key), "PINECONE_API_KEY is required when AEGIS_VECTOR_STORE=pinecone")
        _require(
            bool(s.pinecone_index or s.pinecone_host),
            "AEGIS_PINECONE_INDEX or AEGIS_PINECONE_HOST is required when AEGIS_VECTOR_STORE=pinecone",
        )
    # Operations.
    _require(s.log_level in LOG_LEVELS, f"AEGIS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {s.log_level!r}")
    if s.metrics_port is not None:
        _within(s.metrics_port, 1, 65535, "AEGIS_METRICS_PORT")


def _ocr(env: Mapping[str, str]) -> OcrSettings:
    try:
        return OcrSettings.from_env(env)
    except OcrSettingsError as exc:
        raise SettingsError(str(exc).rstrip(".")) from exc


def default_data_dir() -> Path:
    """The per-user data directory (``platformdirs``), where the embedded instance lives.

    Not the working directory: ``aegis tenant create`` run from another folder must
    find the same database ``aegis dev`` created, not silently start a new one.
    """
    from platformdirs import user_data_dir

    return Path(user_data_dir("aegis", appauthor=False))
def _gateway(env: Mapping[str, str]) -> GatewayLimits:
    limits = GatewayLimits(
        body_timeout=_float(env, "AEGIS_BODY_TIMEOUT", GatewayLimits.body_timeout),
        body_min_rate=_int(env, "AEGIS_BODY_MIN_RATE", GatewayLimits.body_min_rate),
        max_streams_per_tenant=_int(env, "AEGIS_MAX_STREAMS_PER_TENANT", GatewayLimits.max_streams_per_tenant),
        max_streams_per_process=_int(env, "AEGIS_MAX_STREAMS_PER_PROCESS", GatewayLimits.max_streams_per_process),
    )
    _positive(limits.body_timeout, "AEGIS_BODY_TIMEOUT")
    _positive(limits.body_min_rate, "AEGIS_BODY_MIN_RATE")
    _positive(limits.max_streams_per_tenant, "AEGIS_MAX_STREAMS_PER_TENANT")
    _positive(limits.max_streams_per_process, "AEGIS_MAX_STREAMS_PER_PROCESS")
    return limits


def _storage(env: Mapping[str, str], data_dir: Path) -> tuple[Path, StorageSettings]:
    """``AEGIS_STORAGE_URL`` (``file:///path`` or ``s3://bucket/prefix``) and the S3 options.

    Without it the volume store lives in ``AEGIS_STORAGE_DIR`` (default
    ``<AEGIS_DATA_DIR>/storage``), as before the setting existed.
    """
    from urllib.parse import unquote, urlsplit

    url = _raw(env, "AEGIS_STORAGE_URL")
    storage_dir = Path(env.get("AEGIS_STORAGE_DIR") or data_dir / "storage")
    raw_temp = _raw(env, "AEGIS_TEMP_DIR")
    temp_dir = Path(raw_temp).expanduser().resolve() if raw_temp else StorageSettings.temp_dir
    style = _raw(env, "AEGIS_S3_ADDRESSING_STYLE").lower() or "auto"
    _require(style in S3_ADDRESSING_STYLES,
             f"AEGIS_S3_ADDRESSING_STYLE must be one of {', '.join(S3_ADDRESSING_STYLES)}, got {style!r}")
    sse = _raw(env, "AEGIS_S3_SSE") or None
    _require(sse is None or sse in S3_SSE_MODES, f"AEGIS_S3_SSE must be AES256 or aws:kms, got {sse!r}")
    kms_key = _raw(env, "AEGIS_S3_KMS_KEY_ID") or None
    _require(kms_key is None or sse == "aws:kms", "AEGIS_S3_KMS_KEY_ID needs AEGIS_S3_SSE=aws:kms")
    endpoint = _raw(env, "AEGIS_S3_ENDPOINT_URL") or None
    _require(endpoint is None or endpoint.startswith(("http://", "https://")),
             f"AEGIS_S3_ENDPOINT_URL must be an http(s) URL, got {endpoint!r}")
    settings = StorageSettings(
        url=url, s3_endpoint_url=endpoint, s3_addressing_style=style, s3_sse=sse, s3_kms_key_id=kms_key,
        temp_dir=temp_dir,
    )
    if not url:
        return storage_dir.resolve(), settings
    parts = urlsplit(url)
    if parts.scheme == "file":
        _require(not parts.netloc or parts.netloc == "localhost" and bool(parts.path),
                 f"AEGIS_STORAGE_URL must be file:///absolute/path, got {url!r}")
        return Path(unquote(parts.path)).resolve(), settings
    _require(parts.scheme == "s3", f"AEGIS_STORAGE_URL must start with file:// or s3://, got {url!r}")
    bucket = parts.netloc
    # The bucket naming rules S3 enforces (3-63 of a-z 0-9 . -), checked here rather than at the first upload.
    _require(3 <= len(bucket) <= 63 and all(c.isdigit() or c.islower() or c in ".-" for c in bucket)
             and bucket[0].isalnum() and bucket[-1].isalnum(),
             f"AEGIS_STORAGE_URL names a bucket S3 does not allow: {bucket!r}")
    prefix = parts.path.strip("/")
    _require(not parts.query and not parts.fragment and ".." not in prefix.split("/") and "//" not in prefix,
             f"AEGIS_STORAGE_URL must be s3://bucket/prefix, got {url!r}")
    return storage_dir.resolve(), replace(settings, bucket=bucket, prefix=prefix)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build and validate Settings from ``env`` (defaults to ``os.environ``).

    Raises :class:`SettingsError` naming the first variable that is wrong.
    """
    env = os.environ if env is None else env
    raw_data_dir = _raw(env, "AEGIS_DATA_DIR")
    data_dir = (Path(raw_data_dir).expanduser() if raw_data_dir else default_data_dir()).resolve()
    database_url = env.get("AEGIS_DATABASE_URL") or f"sqlite:///{data_dir / 'aegis.db'}"
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; spell it out for SQLAlchemy.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    broker_url = env.get("AEGIS_BROKER_URL") or "filesystem://"
    slots = _int(env, "AEGIS_PIPELINE_SLOTS", DEFAULT_PIPELINE_SLOTS)
    events_url = env.get("AEGIS_EVENTS_URL") or (
        broker_url if broker_url.startswith(("redis://", "rediss://", "sentinel://")) else None
    )
    time_limits = {
        stage: _int(env, f"AEGIS_TIME_LIMIT_{stage.upper()}", default)
        for stage, default in DEFAULT_TIME_LIMITS.items()
    }
    heartbeat = _raw(env, "AEGIS_HEARTBEAT_FILE")
    storage_dir, storage = _storage(env, data_dir)
    # The standard OTEL_* variables are not ours, but an exporter that cannot start must stop
    # every process here, not each forked child at its first span.
    exporter_problem = tracing.exporter_problem(env)
    if exporter_problem:
        raise SettingsError(exporter_problem)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        events_url=events_url,
        storage_dir=storage_dir,
        storage=storage,
        max_upload_bytes=_int(env, "AEGIS_MAX_UPLOAD_BYTES", 100 * 1024 * 1024),
        max_pages=_int(env, "AEGIS_MAX_PAGES", 5000),
        max_text_chars=_int(env, "AEGIS_MAX_TEXT_CHARS", 20_000_000),
        parser_memory_mb=_int(env, "AEGIS_PARSER_MEMORY_MB", 2048),
        time_limits=time_limits,
        max_attempts=_int(env, "AEGIS_MAX_ATTEMPTS", 3),
        visibility_timeout=_int(env, "AEGIS_VISIBILITY_TIMEOUT", 3600),
        reconcile_interval=_float(env, "AEGIS_RECONCILE_INTERVAL", 30.0),
        broker_loss_check=_bool(env, "AEGIS_BROKER_LOSS_CHECK", True),
        sentinel_master=_raw(env, "AEGIS_SENTINEL_MASTER") or "mymaster",
        worker_max_memory_kb=_int(env, "AEGIS_WORKER_MAX_MEMORY_KB", 1_048_576),
        task_events=_bool(env, "AEGIS_TASK_EVENTS", True),
        ai_provider=_choice(env, "AEGIS_AI_PROVIDER", AI_PROVIDERS, "local"),
        vector_store=_choice(env, "AEGIS_VECTOR_STORE", VECTOR_STORES, "local"),
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
        openai_chat_model=env.get("AEGIS_OPENAI_CHAT_MODEL") or "gpt-4o-mini",
        openai_embedding_model=env.get("AEGIS_OPENAI_EMBEDDING_MODEL") or "text-embedding-3-small",
        openai_timeout=_float(env, "AEGIS_OPENAI_TIMEOUT", 60.0),
        openai_max_retries=_int(env, "AEGIS_OPENAI_MAX_RETRIES", 5),
        openai_context_tokens=_int(env, "AEGIS_OPENAI_CONTEXT_TOKENS", 100_000),
        tenant_token_budget=_int(env, "AEGIS_TENANT_TOKEN_BUDGET", 0),
        local_embeddings=_choice(env, "AEGIS_LOCAL_EMBEDDINGS", LOCAL_EMBEDDINGS, "hashing"),
        openai_embedding_dimensions=_int(env, "AEGIS_OPENAI_EMBEDDING_DIMENSIONS", 0),
        openai_embedding_batch=_int(env, "AEGIS_OPENAI_EMBEDDING_BATCH", 100),
        openai_max_output_tokens=_int(env, "AEGIS_OPENAI_MAX_OUTPUT_TOKENS", 1024),
        openai_output_attempts=_int(env, "AEGIS_OPENAI_OUTPUT_ATTEMPTS", 3),
        pinecone_batch_size=_int(env, "AEGIS_PINECONE_BATCH_SIZE", 100),
        pinecone_timeout=_float(env, "AEGIS_PINECONE_TIMEOUT", 30.0),
        pinecone_api_key=env.get("PINECONE_API_KEY") or None,
        pinecone_index=env.get("AEGIS_PINECONE_INDEX") or None,
        pinecone_host=env.get("AEGIS_PINECONE_HOST") or None,
        log_level=_raw(env, "AEGIS_LOG_LEVEL").upper() or "INFO",
        log_json=_bool(env, "AEGIS_LOG_JSON", True),
        heartbeat_file=Path(heartbeat) if heartbeat else None,
        allow_private_webhooks=_bool(env, "AEGIS_ALLOW_PRIVATE_WEBHOOKS", False),
        webhook_secret=env.get("AEGIS_WEBHOOK_SECRET") or None,
        ocr=_ocr(env),
        gateway=_gateway(env),
        metrics_port=_optional_int(env, "AEGIS_METRICS_PORT"),
        search_min_score=_float(env, "AEGIS_SEARCH_MIN_SCORE", DEFAULT_SEARCH_MIN_SCORE),
        # Unset: a tenant alone may fill the installation (the global bound still shares it).
        tenant_max_in_flight=_int(env, "AEGIS_TENANT_MAX_IN_FLIGHT", slots),
        pipeline_slots=slots,
        audit_retention_days=_int(env, "AEGIS_AUDIT_RETENTION_DAYS", 365),
        retention_interval=_float(env, "AEGIS_RETENTION_INTERVAL", 3600.0),
    )
