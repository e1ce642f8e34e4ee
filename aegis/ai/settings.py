"""AI settings that ``aegis.config.Settings`` does not (yet) declare.

Read from the Settings object when it has the attribute, else from the
environment, else the default. Once config.py grows these fields this module
keeps working unchanged; until then the environment variables documented in
docs/ai.md still take effect.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# attribute on Settings -> (environment variable, default, parser)
EXTRA_SETTINGS: dict[str, tuple[str, Any, Callable[[str], Any]]] = {
    "local_embeddings": ("AEGIS_LOCAL_EMBEDDINGS", "hashing", str),
    "openai_embedding_dimensions": ("AEGIS_OPENAI_EMBEDDING_DIMENSIONS", 0, int),
    "openai_embedding_batch": ("AEGIS_OPENAI_EMBEDDING_BATCH", 100, int),
    "openai_max_output_tokens": ("AEGIS_OPENAI_MAX_OUTPUT_TOKENS", 1024, int),
    "openai_output_attempts": ("AEGIS_OPENAI_OUTPUT_ATTEMPTS", 3, int),
    "pinecone_batch_size": ("AEGIS_PINECONE_BATCH_SIZE", 100, int),
    "pinecone_timeout": ("AEGIS_PINECONE_TIMEOUT", 30.0, float),
}


def ai_setting(settings: Any, name: str) -> Any:
    env_name, default, parse = EXTRA_SETTINGS[name]
    value = getattr(settings, name, None)
    if value is not None:
        return value
    extra = getattr(settings, "extra", None) or {}
    raw = extra.get(env_name) or os.environ.get(env_name, "")
    raw = raw.strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ValueError(f"{env_name} must be a {parse.__name__}, got {raw!r}") from exc
