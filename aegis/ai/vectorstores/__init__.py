"""Vector stores: where chunk embeddings live and how they are searched.

``local`` keeps vectors in the ``chunks`` table (no extra service, works on SQLite
and PostgreSQL); ``pinecone`` keeps them in a Pinecone index, one namespace per
tenant. Both implement :class:`aegis.ai.types.VectorStore`.
"""

from __future__ import annotations

from aegis.ai.vectorstores.local import LocalVectorStore

__all__ = ["LocalVectorStore"]
