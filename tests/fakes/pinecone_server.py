"""A fake Pinecone serverless index: the data-plane endpoints the store uses.

Wire format as in Pinecone's data-plane API (camelCase JSON): ``POST
/vectors/upsert``, ``POST /query``, ``GET /vectors/list`` (prefix + pagination
token), ``POST /vectors/delete`` (ids, deleteAll or a metadata filter),
``POST|GET /describe_index_stats``. Enforces the limits real Pinecone enforces and
a store must respect: 40 KB of metadata per record, 1000 vectors per upsert,
1000 ids per delete, the index dimension, and the API key.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from tests.fakes.base import FakeServer, Reply, Request

METADATA_LIMIT = 40 * 1024
MAX_UPSERT = 1000
MAX_DELETE_IDS = 1000


def _error(status: int, message: str, code: str = "INVALID_ARGUMENT") -> Reply:
    return Reply(
        status,
        {"code": 3 if status == 400 else 16, "message": message, "details": []},
        headers={"x-pinecone-error-code": code},
    )


def _matches(metadata: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    for key, condition in flt.items():
        if key == "$and":
            if not all(_matches(metadata, sub) for sub in condition):
                return False
            continue
        if key == "$or":
            if not any(_matches(metadata, sub) for sub in condition):
                return False
            continue
        value = metadata.get(key)
        if not isinstance(condition, dict):
            condition = {"$eq": condition}
        for op, operand in condition.items():
            ok = {
                "$eq": lambda v, o: v == o,
                "$ne": lambda v, o: v != o,
                "$in": lambda v, o: v in o,
                "$nin": lambda v, o: v not in o,
                "$gt": lambda v, o: v is not None and v > o,
                "$gte": lambda v, o: v is not None and v >= o,
                "$lt": lambda v, o: v is not None and v < o,
                "$lte": lambda v, o: v is not None and v <= o,
            }[op](value, operand)
            if not ok:
                return False
    return True


class FakePinecone(FakeServer):
    def __init__(self, dimension: int = 8, api_key: str = "test-key") -> None:
        super().__init__()
        self.dimension = dimension
        self.api_key = api_key
        # namespace -> id -> {"values": [...], "metadata": {...}}
        self.namespaces: dict[str, dict[str, dict[str, Any]]] = {}

    def handle(self, request: Request) -> Reply:
        if request.headers.get("api-key") != self.api_key:
            return Reply(401, {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401})
        routes = {
            ("POST", "/vectors/upsert"): self._upsert,
            ("POST", "/query"): self._query,
            ("GET", "/vectors/list"): self._list,
            ("POST", "/vectors/delete"): self._delete,
            ("POST", "/describe_index_stats"): self._stats,
            ("GET", "/describe_index_stats"): self._stats,
        }
        route = routes.get((request.method, request.path))
        if route is None:
            return _error(404, f"no route {request.method} {request.path}", "NOT_FOUND")
        return route(request)

    def ids(self, namespace: str) -> list[str]:
        return sorted(self.namespaces.get(namespace, {}))

    def _upsert(self, request: Request) -> Reply:
        body = request.body or {}
        namespace = body.get("namespace", "")
        vectors = body.get("vectors") or []
        if len(vectors) > MAX_UPSERT:
            return _error(400, f"upsert of {len(vectors)} vectors exceeds the limit of {MAX_UPSERT}")
        for vector in vectors:
            values = vector.get("values") or []
            if len(values) != self.dimension:
                return _error(
                    400, f"Vector dimension {len(values)} does not match the dimension of the index {self.dimension}"
                )
            size = len(json.dumps(vector.get("metadata") or {}).encode())
            if size > METADATA_LIMIT:
                return _error(
                    400, f"Metadata size is {size} bytes, which exceeds the limit of {METADATA_LIMIT} bytes per vector"
                )
        store = self.namespaces.setdefault(namespace, {})
        for vector in vectors:
            store[vector["id"]] = {"values": list(vector["values"]), "metadata": dict(vector.get("metadata") or {})}
        return Reply(200, {"upsertedCount": len(vectors)})

    def _query(self, request: Request) -> Reply:
        body = request.body or {}
        namespace = body.get("namespace", "")
        vector = body.get("vector")
        if not vector or len(vector) != self.dimension:
            return _error(400, "Query vector dimension does not match the index")
        top_k = int(body.get("topK", 10))
        flt = body.get("filter")
        qn = math.sqrt(sum(v * v for v in vector)) or 1.0
        scored = []
        for vid, record in self.namespaces.get(namespace, {}).items():
            if not _matches(record["metadata"], flt):
                continue
            values = record["values"]
            rn = math.sqrt(sum(v * v for v in values)) or 1.0
            score = sum(a * b for a, b in zip(vector, values, strict=True)) / (qn * rn)
            scored.append((score, vid, record))
        scored.sort(key=lambda item: (-item[0], item[1]))
        matches = []
        for score, vid, record in scored[:top_k]:
            match: dict[str, Any] = {"id": vid, "score": score, "values": []}
            if body.get("includeValues"):
                match["values"] = record["values"]
            if body.get("includeMetadata"):
                match["metadata"] = record["metadata"]
            matches.append(match)
        return Reply(200, {"results": [], "matches": matches, "namespace": namespace, "usage": {"readUnits": 1}})

    def _list(self, request: Request) -> Reply:
        namespace = request.query.get("namespace", [""])[0]
        prefix = request.query.get("prefix", [""])[0]
        limit = int(request.query.get("limit", ["100"])[0])
        token = request.query.get("paginationToken", [None])[0]
        ids = [i for i in self.ids(namespace) if i.startswith(prefix)]
        start = int(base64.b64decode(token).decode()) if token else 0
        page = ids[start : start + limit]
        body: dict[str, Any] = {
            "vectors": [{"id": i} for i in page],
            "namespace": namespace,
            "usage": {"readUnits": 1},
        }
        if start + limit < len(ids):
            body["pagination"] = {"next": base64.b64encode(str(start + limit).encode()).decode()}
        return Reply(200, body)

    def _delete(self, request: Request) -> Reply:
        body = request.body or {}
        namespace = body.get("namespace", "")
        store = self.namespaces.get(namespace, {})
        if body.get("deleteAll"):
            store.clear()
        elif body.get("ids") is not None:
            if len(body["ids"]) > MAX_DELETE_IDS:
                return _error(400, f"delete of {len(body['ids'])} ids exceeds the limit of {MAX_DELETE_IDS}")
            for vid in body["ids"]:
                store.pop(vid, None)
        elif body.get("filter"):
            for vid in [v for v, r in store.items() if _matches(r["metadata"], body["filter"])]:
                store.pop(vid)
        else:
            return _error(400, "Delete request must specify ids, filter or deleteAll")
        return Reply(200, {})

    def _stats(self, request: Request) -> Reply:
        namespaces = {ns: {"vectorCount": len(v)} for ns, v in self.namespaces.items() if v}
        return Reply(
            200,
            {
                "namespaces": namespaces,
                "dimension": self.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": sum(n["vectorCount"] for n in namespaces.values()),
                "metric": "cosine",
                "vectorType": "dense",
            },
        )
