"""A small HTTP client for the Aegis API, used by the ``aegis`` client commands.

Uploads are streamed: the multipart body is generated chunk by chunk from the file
(with an exact Content-Length), so a large file is never held in memory and the
caller can show progress as bytes leave.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from aegis.vocabulary import TERMINAL_STATUSES

CHUNK = 256 * 1024
TERMINAL = TERMINAL_STATUSES


class ApiError(Exception):
    """An error answer from the gateway (problem+json), or no answer at all."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} ({code}, HTTP {status})" if status else detail)
        self.status = status
        self.code = code
        self.detail = detail


class Client:
    def __init__(self, url: str | None = None, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = (url or os.environ.get("AEGIS_URL") or "http://127.0.0.1:8000").rstrip("/")
        key = api_key or os.environ.get("AEGIS_API_KEY")
        if not key:
            raise ApiError(0, "no_api_key", "Set AEGIS_API_KEY (or pass --api-key) to talk to the gateway.")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            reason = _reason(exc)
            raise ApiError(
                0, "unreachable", f"Cannot reach Aegis at {self.url} ({reason}); is the gateway running (`aegis dev`)?"
            ) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiError(response.status_code, body.get("code", "error"), body.get("detail", response.text))
            except ValueError:
                raise ApiError(response.status_code, "error", response.text[:200]) from None
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def upload(
        self, path: Path, progress: Callable[[int], None] | None = None, password: str | None = None
    ) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        fields = {"password": password} if password else {}
        body = MultipartStream(path, boundary, fields, progress)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._request("POST", "/v1/documents", data=body, headers=headers)

    def health(self) -> Any:
        """Whether the gateway answers at all (``/health`` needs no key)."""
        return self._request("GET", "/health")

    def document(self, document_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/documents/{document_id}")

    def content(self, document_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/documents/{document_id}/content")

    def list(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"status": status, "limit": limit, "cursor": cursor}.items() if v}
        return self._request("GET", "/v1/documents", params=params)

    def search(self, query: str, k: int = 10, document_id: str | None = None) -> dict[str, Any]:
        params = {"q": query, "k": k, **({"document_id": document_id} if document_id else {})}
        return self._request("GET", "/v1/search", params=params)

    def reprocess(self, document_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/documents/{document_id}/reprocess")

    def delete(self, document_id: str) -> None:
        self._request("DELETE", f"/v1/documents/{document_id}")


def _reason(exc: requests.RequestException) -> str:
    """A few words for a connection failure; requests' own message is a nested repr."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        for words in ("Connection refused", "Name or service not known", "No route to host",
                      "Temporary failure in name resolution", "Network is unreachable"):
            if words in text:
                return words.lower()
        return "cannot connect"
    return type(exc).__name__


class MultipartStream:
    """A multipart body read from disk as it is sent, with a known length.

    A file-like object with ``__len__`` makes requests send a Content-Length and
    stream the body (a generator would force chunked encoding instead).
    """

    def __init__(self, path: Path, boundary: str, fields: dict[str, str],
                 progress: Callable[[int], None] | None) -> None:
        filename = path.name.replace('"', "_").replace("\r", "").replace("\n", "")
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        )
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()
        self._parts: list[bytes | Path] = [head, path, f"\r\n--{boundary}--\r\n".encode()]
        self._length = len(head) + path.stat().st_size + len(self._parts[2])  # type: ignore[arg-type]
        self._progress = progress
        self._current: Any = None

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size is None or size < 0 else size
        while self._parts or self._current:
            if self._current is None:
                part = self._parts.pop(0)
                self._current = open(part, "rb") if isinstance(part, Path) else _Bytes(part)
            data = self._current.read(size)
            if data:
                if self._progress and not isinstance(self._current, _Bytes):
                    self._progress(len(data))
                return data
            self._current.close()
            self._current = None
        return b""


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int) -> bytes:
        chunk = self._data[self._pos:self._pos + size]
        self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        pass
