"""AI settings with their defaults, for callers that pass a partial settings object.

``aegis.config.Settings`` reads every AI setting from the environment; tests and
scripts sometimes pass a lighter object, so a missing attribute falls back to the
same default ``load_settings`` uses.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "local_embeddings": "hashing",
    "openai_embedding_dimensions": 0,
    "openai_embedding_batch": 100,
    "openai_max_output_tokens": 1024,
    "openai_output_attempts": 3,
    "pinecone_batch_size": 100,
    "pinecone_timeout": 30.0,
}


def ai_setting(settings: Any, name: str) -> Any:
    value = getattr(settings, name, None)
    return DEFAULTS[name] if value is None else value
