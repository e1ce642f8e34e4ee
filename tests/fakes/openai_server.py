"""A fake OpenAI API: ``POST /v1/chat/completions`` and ``POST /v1/embeddings``.

Responses follow the OpenAI reference (chat.completion objects with ``choices``,
``usage``; embedding lists with ``data[].embedding`` as floats or base64 float32).
By default chat answers are *valid* structured output built from the delimited
document in the prompt; set ``chat_content`` to a function or queue strings on
``chat_script`` to return anything else (malformed JSON, wrong labels, invented
URLs...). Error bodies use OpenAI's ``{"error": {...}}`` shape.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.fakes.base import FakeServer, Reply, Request

_DOC_RE = re.compile(r"<<<DOCUMENT (\w+)>>>\n(.*)\n<<<END DOCUMENT \1>>>", re.S)


def error_body(message: str, kind: str = "server_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def fake_vector(text: str, dim: int) -> list[float]:
    """Deterministic, distinct per text; deliberately not normalised."""
    values = []
    for i in range(dim):
        digest = hashlib.sha256(f"{i}:{text}".encode()).digest()
        values.append(int.from_bytes(digest[:4], "little") / 2**32 - 0.5)
    return values


def document_in(request: Request) -> str | None:
    for message in request.body.get("messages", []):
        match = _DOC_RE.search(message.get("content") or "")
        if match:
            return match.group(2)
    return None


class FakeOpenAI(FakeServer):
    def __init__(self, embedding_dim: int = 8) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.chat_script: deque[str] = deque()
        self.chat_content: Callable[[Request], str] | None = None
        self.finish_reason = "stop"
        self.report_usage = True

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def handle(self, request: Request) -> Reply:
        if request.path == "/v1/chat/completions" and request.method == "POST":
            return self._chat(request)
        if request.path == "/v1/embeddings" and request.method == "POST":
            return self._embeddings(request)
        return Reply(404, error_body(f"no route {request.method} {request.path}", "invalid_request_error"))

    # -- chat --------------------------------------------------------------------

    def valid_content(self, request: Request) -> str:
        """What a well-behaved model would answer for this request's schema."""
        document = document_in(request) or ""
        fmt = request.body.get("response_format", {}).get("json_schema", {})
        first = re.split(r"(?<=[.!?])\s", document.strip(), maxsplit=1)[0][:300]
        words = [w for w in re.findall(r"[A-Za-z]{5,}", document)]
        keywords = list(dict.fromkeys(w.lower() for w in words))[:5]
        answer: dict[str, Any] = {"summary": first or "Empty.", "keywords": keywords}
        if fmt.get("name") == "document_analysis":
            answer["language"] = "en"
            props = fmt.get("schema", {}).get("properties", {})
            if "classification" in props:
                labels = props["classification"]["properties"]["label"]["enum"]
                answer["classification"] = {"label": labels[0], "score": 0.9}
        return json.dumps(answer)

    def _chat(self, request: Request) -> Reply:
        if self.chat_script:
            content = self.chat_script.popleft()
        elif self.chat_content is not None:
            content = self.chat_content(request)
        else:
            content = self.valid_content(request)
        prompt_tokens = sum(len((m.get("content") or "").split()) for m in request.body.get("messages", []))
        completion_tokens = len(content.split())
        body: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": self.finish_reason,
                    "logprobs": None,
                }
            ],
        }
        if self.report_usage:
            body["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return Reply(200, body)

    # -- embeddings --------------------------------------------------------------

    def _embeddings(self, request: Request) -> Reply:
        inputs = request.body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or any(not isinstance(t, str) or not t for t in inputs):
            return Reply(400, error_body("'$.input' is invalid", "invalid_request_error"))
        dim = int(request.body.get("dimensions") or self.embedding_dim)
        data = []
        for index, text in enumerate(inputs):
            vector = fake_vector(text, dim)
            if request.body.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            else:
                encoded = vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(t.split()) for t in inputs)
        body = {
            "object": "list",
            "data": data,
            "model": request.body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return Reply(200, body)
