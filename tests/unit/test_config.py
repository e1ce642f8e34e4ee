"""Settings fail fast: every rule names its variable, and no process starts with a bad one."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aegis.config import DEFAULT_TIME_LIMITS, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_environment_loads_the_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded instance lives in the per-user data directory, not the working one (issue 10, item 2)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # platformdirs' Linux user data root
    s = load_settings({})
    home = tmp_path / "xdg" / "aegis"
    assert s.data_dir == home
    assert s.database_url == f"sqlite:///{home / 'aegis.db'}"
    assert s.broker_url == "filesystem://" and s.embedded_broker and s.events_url is None
    assert s.storage_dir == home / "storage"
    assert not (tmp_path / "aegis-data").exists()
    assert s.time_limits == DEFAULT_TIME_LIMITS and s.visibility_timeout == 3600
    assert (s.max_upload_bytes, s.max_pages, s.max_text_chars) == (100 * 1024 * 1024, 5000, 20_000_000)
    assert (s.parser_memory_mb, s.worker_max_memory_kb, s.max_attempts, s.reconcile_interval) == (
        2048, 1_048_576, 3, 30.0)
    assert (s.ai_provider, s.vector_store, s.local_embeddings) == ("local", "local", "hashing")
    assert (s.embedding_dim, s.chunk_chars, s.chunk_overlap) == (384, 1500, 200)
    assert (s.openai_chat_model, s.openai_embedding_model) == ("gpt-4o-mini", "text-embedding-3-small")
    assert (s.openai_timeout, s.openai_max_retries, s.openai_context_tokens) == (60.0, 5, 100_000)
    assert (s.openai_embedding_dimensions, s.openai_embedding_batch) == (0, 100)
    assert (s.openai_max_output_tokens, s.openai_output_attempts) == (1024, 3)
    assert (s.pinecone_batch_size, s.pinecone_timeout) == (100, 30.0)
    assert (s.tenant_token_budget, s.log_level, s.log_json) == (0, "INFO", True)
    assert s.allow_private_webhooks is False and s.metrics_port is None and s.heartbeat_file is None
    assert s.openai_api_key is s.pinecone_api_key is s.webhook_secret is None
    assert "other" in s.classification_labels


def test_names_and_booleans_are_normalised() -> None:
    s = load_settings({
        "AEGIS_AI_PROVIDER": " OpenAI ", "OPENAI_API_KEY": "sk", "AEGIS_VECTOR_STORE": "Local",
        "AEGIS_LOCAL_EMBEDDINGS": "hash", "AEGIS_LOG_LEVEL": "debug", "AEGIS_LOG_JSON": "off",
        "AEGIS_ALLOW_PRIVATE_WEBHOOKS": "Yes", "AEGIS_DATABASE_URL": "postgresql://u@h/db",
        "AEGIS_BROKER_URL": "redis://h:6379/0",
    })
    assert (s.ai_provider, s.vector_store, s.local_embeddings) == ("openai", "local", "hashing")
    assert (s.log_level, s.log_json, s.allow_private_webhooks) == ("DEBUG", False, True)
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.events_url == "redis://h:6379/0"


def test_task_events_are_on_unless_turned_off() -> None:
    assert load_settings({}).task_events is True
    assert load_settings({"AEGIS_TASK_EVENTS": "0"}).task_events is False
    with pytest.raises(SettingsError, match="^AEGIS_TASK_EVENTS"):
        load_settings({"AEGIS_TASK_EVENTS": "ture"})


OPENAI = {"AEGIS_AI_PROVIDER": "openai", "OPENAI_API_KEY": "sk"}
PINECONE = {"AEGIS_VECTOR_STORE": "pinecone", "PINECONE_API_KEY": "pc", "AEGIS_PINECONE_INDEX": "i"}

# (environment, the variable the one-line message must start with)
REJECTED: list[tuple[dict[str, str], str]] = [
    # numbers that do not parse
    ({"AEGIS_MAX_PAGES": "many"}, "AEGIS_MAX_PAGES"),
    ({"AEGIS_RECONCILE_INTERVAL": "soon"}, "AEGIS_RECONCILE_INTERVAL"),
    ({"AEGIS_OPENAI_TIMEOUT": "nan"}, "AEGIS_OPENAI_TIMEOUT"),
    # sizes, limits and intervals that must be positive
    ({"AEGIS_MAX_UPLOAD_BYTES": "0"}, "AEGIS_MAX_UPLOAD_BYTES"),
    ({"AEGIS_MAX_PAGES": "-1"}, "AEGIS_MAX_PAGES"),
    ({"AEGIS_MAX_TEXT_CHARS": "0"}, "AEGIS_MAX_TEXT_CHARS"),
    ({"AEGIS_PARSER_MEMORY_MB": "-5"}, "AEGIS_PARSER_MEMORY_MB"),
    ({"AEGIS_WORKER_MAX_MEMORY_KB": "-1"}, "AEGIS_WORKER_MAX_MEMORY_KB"),
    *[({f"AEGIS_TIME_LIMIT_{s.upper()}": "0"}, f"AEGIS_TIME_LIMIT_{s.upper()}") for s in DEFAULT_TIME_LIMITS],
    ({"AEGIS_MAX_ATTEMPTS": "0"}, "AEGIS_MAX_ATTEMPTS"),
    ({"AEGIS_RECONCILE_INTERVAL": "0"}, "AEGIS_RECONCILE_INTERVAL"),
    ({"AEGIS_EMBEDDING_DIM": "0"}, "AEGIS_EMBEDDING_DIM"),
    ({"AEGIS_EMBEDDING_DIM": "15"}, "AEGIS_EMBEDDING_DIM"),
    ({"AEGIS_CHUNK_CHARS": "0"}, "AEGIS_CHUNK_CHARS"),
    ({"AEGIS_CHUNK_OVERLAP": "-1"}, "AEGIS_CHUNK_OVERLAP"),
    ({"AEGIS_CHUNK_CHARS": "500", "AEGIS_CHUNK_OVERLAP": "500"}, "AEGIS_CHUNK_OVERLAP"),
    ({"AEGIS_TENANT_TOKEN_BUDGET": "-1"}, "AEGIS_TENANT_TOKEN_BUDGET"),
    ({"AEGIS_OPENAI_TIMEOUT": "0"}, "AEGIS_OPENAI_TIMEOUT"),
    ({"AEGIS_OPENAI_MAX_RETRIES": "-1"}, "AEGIS_OPENAI_MAX_RETRIES"),
    ({"AEGIS_OPENAI_MAX_OUTPUT_TOKENS": "0"}, "AEGIS_OPENAI_MAX_OUTPUT_TOKENS"),
    ({"AEGIS_OPENAI_CONTEXT_TOKENS": "2000"}, "AEGIS_OPENAI_CONTEXT_TOKENS"),
    ({"AEGIS_OPENAI_EMBEDDING_DIMENSIONS": "-1"}, "AEGIS_OPENAI_EMBEDDING_DIMENSIONS"),
    ({"AEGIS_OPENAI_EMBEDDING_BATCH": "0"}, "AEGIS_OPENAI_EMBEDDING_BATCH"),
    ({"AEGIS_OPENAI_EMBEDDING_BATCH": "5000"}, "AEGIS_OPENAI_EMBEDDING_BATCH"),
    ({"AEGIS_OPENAI_OUTPUT_ATTEMPTS": "0"}, "AEGIS_OPENAI_OUTPUT_ATTEMPTS"),
    ({"AEGIS_PINECONE_BATCH_SIZE": "1001"}, "AEGIS_PINECONE_BATCH_SIZE"),
    ({"AEGIS_PINECONE_TIMEOUT": "-3"}, "AEGIS_PINECONE_TIMEOUT"),
    ({"AEGIS_METRICS_PORT": "70000"}, "AEGIS_METRICS_PORT"),
    # ordered limits: the broker must not redeliver a task that is still running
    ({"AEGIS_VISIBILITY_TIMEOUT": "600"}, "AEGIS_VISIBILITY_TIMEOUT"),
    ({"AEGIS_TIME_LIMIT_CONTENT": "4000"}, "AEGIS_VISIBILITY_TIMEOUT"),
    # names
    ({"AEGIS_AI_PROVIDER": "nope"}, "AEGIS_AI_PROVIDER"),
    ({"AEGIS_VECTOR_STORE": "faiss"}, "AEGIS_VECTOR_STORE"),
    ({"AEGIS_LOCAL_EMBEDDINGS": "word2vec"}, "AEGIS_LOCAL_EMBEDDINGS"),
    ({"AEGIS_LOG_LEVEL": "LOUD"}, "AEGIS_LOG_LEVEL"),
    ({"AEGIS_LOG_JSON": "ture"}, "AEGIS_LOG_JSON"),
    ({"AEGIS_ALLOW_PRIVATE_WEBHOOKS": "maybe"}, "AEGIS_ALLOW_PRIVATE_WEBHOOKS"),
    # URLs
    ({"AEGIS_DATABASE_URL": "mysql://u@h/db"}, "AEGIS_DATABASE_URL"),
    ({"AEGIS_DATABASE_URL": "postgres://u@h/db"}, "AEGIS_DATABASE_URL"),
    ({"AEGIS_DATABASE_URL": "aegis.db"}, "AEGIS_DATABASE_URL"),
    ({"AEGIS_BROKER_URL": "sqs://"}, "AEGIS_BROKER_URL"),
    ({"AEGIS_BROKER_URL": "localhost:6379"}, "AEGIS_BROKER_URL"),
    ({"AEGIS_EVENTS_URL": "amqp://h"}, "AEGIS_EVENTS_URL"),
    ({**OPENAI, "OPENAI_BASE_URL": "ollama:11434"}, "OPENAI_BASE_URL"),
    ({"AEGIS_STORAGE_URL": "/srv/blobs"}, "AEGIS_STORAGE_URL"),
    ({"AEGIS_STORAGE_URL": "gs://bucket"}, "AEGIS_STORAGE_URL"),
    ({"AEGIS_STORAGE_URL": "s3://"}, "AEGIS_STORAGE_URL"),
    ({"AEGIS_STORAGE_URL": "s3://My_Bucket/x"}, "AEGIS_STORAGE_URL"),
    ({"AEGIS_STORAGE_URL": "s3://bucket/a/../b"}, "AEGIS_STORAGE_URL"),
    ({"AEGIS_STORAGE_URL": "file://host/srv"}, "AEGIS_STORAGE_URL"),
    ({"AEGIS_S3_ENDPOINT_URL": "minio:9000"}, "AEGIS_S3_ENDPOINT_URL"),
    ({"AEGIS_S3_ADDRESSING_STYLE": "dns"}, "AEGIS_S3_ADDRESSING_STYLE"),
    ({"AEGIS_S3_SSE": "aes"}, "AEGIS_S3_SSE"),
    ({"AEGIS_S3_SSE": "AES256", "AEGIS_S3_KMS_KEY_ID": "k"}, "AEGIS_S3_KMS_KEY_ID"),
    # keys the chosen provider and store need
    ({"AEGIS_AI_PROVIDER": "openai"}, "OPENAI_API_KEY"),
    ({"AEGIS_VECTOR_STORE": "pinecone", "AEGIS_PINECONE_INDEX": "i"}, "PINECONE_API_KEY"),
    ({"AEGIS_VECTOR_STORE": "pinecone", "PINECONE_API_KEY": "pc"}, "AEGIS_PINECONE_INDEX or AEGIS_PINECONE_HOST"),
]


@pytest.mark.parametrize(("env", "variable"), REJECTED, ids=[f"{v}:{sorted(e.items())}" for e, v in REJECTED])
def test_each_rule_rejects_with_one_line_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert message.startswith(variable), message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)  # callers that caught ValueError still do


@pytest.mark.parametrize(
    "env",
    [
        OPENAI,
        {"AEGIS_AI_PROVIDER": "openai", "OPENAI_BASE_URL": "http://ollama:11434/v1"},  # no key needed
        PINECONE,
        {**PINECONE, "AEGIS_PINECONE_INDEX": "", "AEGIS_PINECONE_HOST": "https://i-p.svc.pinecone.io"},
        {"AEGIS_PARSER_MEMORY_MB": "0", "AEGIS_WORKER_MAX_MEMORY_KB": "0"},  # 0: no cap
        {"AEGIS_CHUNK_OVERLAP": "0", "AEGIS_TENANT_TOKEN_BUDGET": "0", "AEGIS_OPENAI_MAX_RETRIES": "0"},
        {"AEGIS_DATABASE_URL": "sqlite:///x.db", "AEGIS_BROKER_URL": "amqps://h"},
        {"AEGIS_BROKER_URL": "rediss://h:6380/0", "AEGIS_LOG_JSON": "no", "AEGIS_METRICS_PORT": "9808"},
        {"AEGIS_VISIBILITY_TIMEOUT": "601"},
        # unused for the local provider, yet an empty value means the default, not ""
        {"AEGIS_OPENAI_CHAT_MODEL": "", "AEGIS_LOG_LEVEL": ""},
    ],
)
def test_valid_combinations_load(env: dict[str, str]) -> None:
    load_settings(env)


def test_the_storage_url_names_a_volume_or_a_bucket_and_prefix(tmp_path: Path) -> None:
    default = load_settings({"AEGIS_DATA_DIR": str(tmp_path)})
    assert default.storage.bucket is None and default.storage_dir == tmp_path / "storage"
    volume = load_settings({"AEGIS_STORAGE_URL": f"file://{tmp_path}/blobs", "AEGIS_STORAGE_DIR": "/ignored"})
    assert volume.storage.bucket is None and volume.storage_dir == tmp_path / "blobs"
    s3 = load_settings({
        "AEGIS_STORAGE_URL": "s3://aegis-docs/prod/eu/", "AEGIS_S3_ENDPOINT_URL": "http://minio:9000",
        "AEGIS_S3_ADDRESSING_STYLE": "PATH", "AEGIS_S3_SSE": "aws:kms", "AEGIS_S3_KMS_KEY_ID": "alias/aegis",
        "AEGIS_TEMP_DIR": str(tmp_path / "tmp"),
    })
    st = s3.storage
    assert (st.bucket, st.prefix, st.s3_endpoint_url, st.s3_addressing_style) == (
        "aegis-docs", "prod/eu", "http://minio:9000", "path")
    assert (st.s3_sse, st.s3_kms_key_id, st.temp_dir) == ("aws:kms", "alias/aegis", tmp_path / "tmp")


def test_settings_changed_in_code_are_validated_too() -> None:
    """``dataclasses.replace`` goes through the same rules, so a Settings is always valid."""
    s = load_settings({})
    with pytest.raises(SettingsError, match="^AEGIS_AI_PROVIDER"):
        dataclasses.replace(s, ai_provider="magic")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="^AEGIS_CHUNK_OVERLAP"):
        dataclasses.replace(s, chunk_overlap=s.chunk_chars)
    assert dataclasses.replace(s, chunk_chars=900).chunk_chars == 900


# --------------------------------------------------------------------------- processes refuse to start

ENTRY_POINTS = {
    "aegis dev": ["-m", "aegis.cli", "dev", "--flower-port", "0"],
    "aegis db upgrade": ["-m", "aegis.cli", "db", "upgrade"],
    "celery worker": ["-m", "celery", "-A", "tasks", "worker", "-Q", "validate", "--pool", "solo"],
    "celery beat": ["-m", "celery", "-A", "tasks", "beat"],
    "gunicorn": ["-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket", "web:create_app()"],
}


@pytest.mark.parametrize("command", list(ENTRY_POINTS))
def test_processes_refuse_to_start_with_one_line_naming_the_variable(command: str, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AEGIS_", "OPENAI_", "PINECONE_"))},
        "AEGIS_DATA_DIR": str(tmp_path),
        "AEGIS_AI_PROVIDER": "nope",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, *ENTRY_POINTS[command]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    line = "aegis: error: AEGIS_AI_PROVIDER must be one of local, openai, got 'nope'"
    assert line in proc.stderr.splitlines(), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())  # refused before creating anything


@pytest.mark.parametrize("raw", ["-0.1", "1.5", "nan", "high"])
def test_the_search_floor_must_be_a_number_from_0_to_1(raw: str) -> None:
    with pytest.raises(SettingsError, match="AEGIS_SEARCH_MIN_SCORE"):
        load_settings({"AEGIS_DATA_DIR": "/tmp/x", "AEGIS_SEARCH_MIN_SCORE": raw})


def test_the_search_floor_defaults_to_the_measured_value() -> None:
    from aegis.config import DEFAULT_SEARCH_MIN_SCORE

    assert load_settings({"AEGIS_DATA_DIR": "/tmp/x"}).search_min_score == DEFAULT_SEARCH_MIN_SCORE > 0
    assert load_settings({"AEGIS_DATA_DIR": "/tmp/x", "AEGIS_SEARCH_MIN_SCORE": "0.3"}).search_min_score == 0.3


def test_a_sentinel_broker_url_also_carries_the_events_and_names_its_master() -> None:
    url = "sentinel://:secret@10.0.0.1:26379;sentinel://10.0.0.2:26379/2"
    settings = load_settings({"AEGIS_BROKER_URL": url, "AEGIS_SENTINEL_MASTER": "aegis"})
    assert (settings.events_url, settings.sentinel_master, settings.broker_kind) == (url, "aegis", "redis")


def test_an_amqp_broker_has_no_events_unless_a_redis_is_named() -> None:
    settings = load_settings({"AEGIS_BROKER_URL": "amqp://guest:guest@localhost:5672/aegis"})
    assert (settings.broker_kind, settings.events_url) == ("amqp", None)
    with_events = load_settings({"AEGIS_BROKER_URL": "amqps://u:p@mq/aegis", "AEGIS_EVENTS_URL": "redis://r:6379/0"})
    assert with_events.events_url == "redis://r:6379/0"
