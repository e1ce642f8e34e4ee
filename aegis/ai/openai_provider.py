"""OpenAI (and OpenAI-compatible servers: vLLM, Ollama, LiteLLM, ...) through the official SDK.

Retries: the SDK already retries connection errors, 408, 409, 429 and 5xx with
exponential backoff and honours ``Retry-After``; we configure how many times
(``AEGIS_OPENAI_MAX_RETRIES``) and the per-request timeout
(``AEGIS_OPENAI_TIMEOUT``). What is still failing after that is mapped onto
:class:`TransientAIError` so the pipeline retries the *task* later, with its own
longer backoff, instead of holding a worker in a sleep loop.

Malformed structured output (not JSON, wrong types, a label not in the list, a
reply cut off at the token limit) is retried a few times here, since another
sample usually fixes it, and then becomes a permanent ``ai_malformed_output``.

Long documents are summarised map-reduce: pieces that fit the model's context
are summarised one by one, then the piece summaries are analysed together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from aegis.ai import prompts
from aegis.ai.errors import AIError, BudgetExceeded, PermanentAIError, TransientAIError
from aegis.ai.text import clean_text, dedupe, sanitize_model_text
from aegis.ai.tokens import chars_for_tokens, estimate_tokens, split_by_tokens
from aegis.ai.types import Analysis, add_usage, zero_usage
from aegis.config import OPENAI_MIN_PIECE_TOKENS, OPENAI_PROMPT_OVERHEAD_TOKENS, Settings
from aegis.text.language import detect_language
from aegis.vocabulary import ErrorCode

log = logging.getLogger(__name__)

# Native sizes of OpenAI's embedding models; others are learned from the first reply.
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# Room for the system message, the task text and the markers around each piece
# (declared with the settings, which refuse a context too small for it).
PROMPT_OVERHEAD_TOKENS = OPENAI_PROMPT_OVERHEAD_TOKENS
# OpenAI's per-input limit is 8192 tokens; stay under it by our pessimistic estimate.
EMBEDDING_INPUT_TOKENS = 8_000
# OpenAI caps one embeddings request at 300k tokens; stay well under.
EMBEDDING_REQUEST_TOKENS = 100_000
MAX_REDUCE_ROUNDS = 4


def _translate(exc: Exception) -> Exception:
    """Map an ``openai`` exception onto the pipeline's error types."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return TransientAIError(f"AI provider timed out: {exc}", code=ErrorCode.AI_TIMEOUT)
    if isinstance(exc, openai.APIConnectionError):
        return TransientAIError(f"cannot reach the AI provider: {exc}", code=ErrorCode.AI_UNAVAILABLE)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body) if isinstance(body, dict) else {}
        code = error.get("code") if isinstance(error, dict) else None
        if status == 429 and code == "insufficient_quota":
            return PermanentAIError(ErrorCode.AI_QUOTA_EXCEEDED, "the AI provider account has no quota left")
        if status in (408, 409, 429) or status >= 500:
            retry_after = None
            try:
                retry_after = float(exc.response.headers.get("retry-after", ""))
            except (TypeError, ValueError):
                pass
            kind = ErrorCode.AI_RATE_LIMITED if status == 429 else ErrorCode.AI_UNAVAILABLE
            return TransientAIError(f"AI provider answered {status}", code=kind, retry_after=retry_after)
        if status in (401, 403):
            return PermanentAIError(ErrorCode.AI_AUTH, f"the AI provider refused our credentials ({status})")
        if status == 404:
            return PermanentAIError(ErrorCode.AI_MODEL_NOT_FOUND, f"the AI provider does not know the model ({exc})")
        return PermanentAIError(
            ErrorCode.AI_REQUEST_REJECTED, f"the AI provider rejected the request ({status}): {exc}"
        )
    if isinstance(exc, openai.OpenAIError):
        return PermanentAIError(ErrorCode.AI_ERROR, str(exc))
    return exc


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        chat_model: str = "gpt-4o-mini",
        embedding_model: str = "text-embedding-3-small",
        timeout: float = 60.0,
        max_retries: int = 5,
        context_tokens: int = 100_000,
        max_output_tokens: int = 1024,
        embedding_batch: int = 100,
        embedding_dimensions: int = 0,
        output_attempts: int = 3,
    ) -> None:
        if not api_key and not base_url:
            raise PermanentAIError(
                ErrorCode.AI_CONFIG, "AEGIS_AI_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)"
            )
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self.model = chat_model
        self.context_tokens = context_tokens
        self.max_output_tokens = max_output_tokens
        self.embedding_batch = max(1, min(embedding_batch, 2048))
        self.embedding_dimensions = embedding_dimensions
        self.output_attempts = max(1, output_attempts)
        self.piece_tokens = context_tokens - max_output_tokens - PROMPT_OVERHEAD_TOKENS
        if self.piece_tokens < OPENAI_MIN_PIECE_TOKENS:
            raise PermanentAIError(
                ErrorCode.AI_CONFIG, "AEGIS_OPENAI_CONTEXT_TOKENS is too small for AEGIS_OPENAI_MAX_OUTPUT_TOKENS"
            )
        self.dimension = embedding_dimensions or KNOWN_DIMENSIONS.get(embedding_model, 0)
        self._client_options: dict[str, Any] = {
            # Local servers (Ollama, vLLM) ignore the key, but the SDK insists on one.
            "api_key": api_key or "unused",
            "base_url": base_url or None,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        return cls(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            chat_model=settings.openai_chat_model,
            embedding_model=settings.openai_embedding_model,
            timeout=settings.openai_timeout,
            max_retries=settings.openai_max_retries,
            context_tokens=settings.openai_context_tokens,
            max_output_tokens=settings.openai_max_output_tokens,
            embedding_batch=settings.openai_embedding_batch,
            embedding_dimensions=settings.openai_embedding_dimensions,
            output_attempts=settings.openai_output_attempts,
        )

    @property
    def client(self) -> Any:
        """Created on first use: building a provider opens nothing."""
        if self._client is None:
            import openai

            self._client = openai.OpenAI(**self._client_options)
        return self._client

    # -- analysis ---------------------------------------------------------------

    def estimate_tokens(self, text: str) -> int:
        """Pessimistic cost of analysing and embedding ``text`` (for budget checks)."""
        body = estimate_tokens(text)
        # Chunks overlap a little, so embedding reads slightly more than the text.
        return self._analysis_estimate(body) + int(body * 1.2)

    def _analysis_estimate(self, body: int) -> int:
        if body == 0:
            return 0
        pieces = max(1, -(-body // self.piece_tokens))
        calls = pieces + (1 if pieces > 1 else 0)
        return body + calls * (PROMPT_OVERHEAD_TOKENS + self.max_output_tokens)

    def analyze(self, text: str, labels: Sequence[str], *, token_limit: int | None = None) -> Analysis:
        """Summary, keywords, language and label for ``text``.

        ``token_limit`` (what the tenant has left) makes the call refuse up front,
        with :class:`BudgetExceeded`, a document that would cost more.
        """
        source = clean_text(text)
        labels = [str(label) for label in labels if str(label).strip()]
        usage = zero_usage()
        if not source.strip():
            return Analysis("", [], None, None, usage, self.name, self.chat_model)
        if token_limit is not None:
            needed = self._analysis_estimate(estimate_tokens(source))
            if needed > token_limit:
                raise BudgetExceeded(
                    f"analysis needs about {needed} tokens, {token_limit} left",
                    requested=needed,
                    budget=token_limit,
                )
        pieces = split_by_tokens(source, self.piece_tokens)
        try:
            if len(pieces) <= 1:
                result = self._analyse(source, labels, usage, from_parts=False)
            else:
                result = self._map_reduce(pieces, labels, usage)
        except AIError as exc:
            exc.usage = usage  # tokens already spent are still owed, even when the document fails
            raise
        keywords = [sanitize_model_text(k, source, prompts.KEYWORD_MAX_CHARS) for k in result["keywords"]]
        return Analysis(
            summary=sanitize_model_text(result["summary"], source, prompts.SUMMARY_MAX_CHARS),
            keywords=dedupe(k for k in keywords if k)[: prompts.MAX_KEYWORDS],
            language=result["language"] or detect_language(source),
            classification=result["classification"],
            usage=usage,
            provider=self.name,
            model=self.chat_model,
        )

    def _map_reduce(self, pieces: list[str], labels: list[str], usage: dict[str, int]) -> dict[str, Any]:
        keywords: list[str] = []
        for _round in range(MAX_REDUCE_ROUNDS):
            parts = []
            for number, piece in enumerate(pieces, start=1):
                part = self._complete(
                    prompts.part_messages(piece, number, len(pieces), prompts.new_nonce()),
                    "document_part",
                    prompts.PART_SCHEMA,
                    prompts.validate_part,
                    usage,
                )
                parts.append(f"Part {number}: {part['summary'].strip()}")
                keywords.extend(part["keywords"])
            combined = "\n\n".join(parts)
            if estimate_tokens(combined) <= self.piece_tokens:
                result = self._analyse(combined, labels, usage, from_parts=True)
                result["keywords"] = dedupe([*result["keywords"], *keywords])
                return result
            pieces = split_by_tokens(combined, self.piece_tokens)
        raise PermanentAIError(ErrorCode.AI_DOCUMENT_TOO_LONG, "the document is too long to summarise in this context")

    def _analyse(self, text: str, labels: list[str], usage: dict[str, int], *, from_parts: bool) -> dict[str, Any]:
        return self._complete(
            prompts.analysis_messages(text, labels, prompts.new_nonce(), from_parts=from_parts),
            "document_analysis",
            prompts.analysis_schema(labels),
            lambda data: prompts.validate_analysis(data, labels),
            usage,
        )

    def _complete(
        self,
        messages: list[dict[str, str]],
        schema_name: str,
        schema: dict[str, Any],
        validate: Any,
        usage: dict[str, int],
    ) -> dict[str, Any]:
        """One structured chat completion, re-asked when the reply does not validate."""
        problem = "no reply"
        for attempt in range(1, self.output_attempts + 1):
            try:
                response = self.client.chat.completions.create(
                    model=self.chat_model,
                    messages=messages,
                    response_format=prompts.response_format(schema_name, schema),
                    max_completion_tokens=self.max_output_tokens,
                )
            except Exception as exc:  # noqa: BLE001 - translated or re-raised below
                raise _translate(exc) from exc
            add_usage(usage, _usage_of(response, messages))
            choices = getattr(response, "choices", None) or []
            if not choices:
                problem = "reply has no choices"
                continue
            choice = choices[0]
            refusal = getattr(choice.message, "refusal", None)
            if refusal:
                raise PermanentAIError(ErrorCode.AI_REFUSED, f"the model refused: {str(refusal)[:200]}")
            if choice.finish_reason == "length":
                problem = "reply was cut off at the output token limit"
                continue
            try:
                return validate(prompts.parse_json_object(choice.message.content))
            except prompts.OutputError as exc:
                problem = str(exc)
                log.warning("malformed model output (attempt %d/%d): %s", attempt, self.output_attempts, problem)
        raise PermanentAIError(
            ErrorCode.AI_MALFORMED_OUTPUT,
            f"the model's reply was unusable after {self.output_attempts} attempts: {problem}"
        )

    # -- embeddings -------------------------------------------------------------

    def embed(self, texts: list[str], *, usage: dict[str, int] | None = None) -> list[list[float]]:
        """Vectors for ``texts`` in order, L2-normalised, batched by count and size.

        Pass ``usage`` to have the embedding tokens added to it.
        """
        inputs = [self._embedding_input(t) for t in texts]
        vectors: list[list[float]] = []
        for batch in self._batches(inputs):
            vectors.extend(self._embed_batch(batch, usage))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]

    def _embedding_input(self, text: str) -> str:
        text = clean_text(text).strip() or " "  # the API rejects empty strings
        return text[: chars_for_tokens(text, EMBEDDING_INPUT_TOKENS)]

    def _batches(self, inputs: list[str]) -> list[list[str]]:
        batches: list[list[str]] = []
        current: list[str] = []
        tokens = 0
        for text in inputs:
            cost = estimate_tokens(text)
            if current and (len(current) >= self.embedding_batch or tokens + cost > EMBEDDING_REQUEST_TOKENS):
                batches.append(current)
                current, tokens = [], 0
            current.append(text)
            tokens += cost
        if current:
            batches.append(current)
        return batches

    def _embed_batch(self, batch: list[str], usage: dict[str, int] | None) -> list[list[float]]:
        options: dict[str, Any] = {"model": self.embedding_model, "input": batch, "encoding_format": "float"}
        if self.embedding_dimensions:
            options["dimensions"] = self.embedding_dimensions
        try:
            response = self.client.embeddings.create(**options)
        except Exception as exc:  # noqa: BLE001 - translated or re-raised below
            raise _translate(exc) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise TransientAIError(f"asked for {len(batch)} embeddings, got {len(data)}", code=ErrorCode.AI_BAD_REPLY)
        matrix = np.asarray([item.embedding for item in data], dtype=np.float64)
        if matrix.ndim != 2:
            raise PermanentAIError(ErrorCode.AI_MALFORMED_OUTPUT, "embeddings of different sizes in one reply")
        if self.dimension and matrix.shape[1] != self.dimension:
            raise PermanentAIError(
                ErrorCode.VECTOR_DIMENSION_MISMATCH,
                f"{self.embedding_model} returned {matrix.shape[1]} dimensions, expected {self.dimension}",
            )
        self.dimension = int(matrix.shape[1])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        if usage is not None:
            spent = getattr(response, "usage", None)
            prompt_tokens = int(getattr(spent, "prompt_tokens", 0) or 0) or sum(estimate_tokens(t) for t in batch)
            add_usage(usage, {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "total_tokens": prompt_tokens})
        return (matrix / norms).astype(np.float32).tolist()


def _usage_of(response: Any, messages: list[dict[str, str]]) -> dict[str, int]:
    """Reported usage, or an estimate when a compatible server reports none."""
    reported = getattr(response, "usage", None)
    if reported is not None and getattr(reported, "total_tokens", None):
        prompt = int(reported.prompt_tokens or 0)
        completion = int(reported.completion_tokens or 0)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": int(reported.total_tokens)}
    prompt = sum(estimate_tokens(m["content"]) for m in messages)
    content = ""
    choices = getattr(response, "choices", None) or []
    if choices:
        content = choices[0].message.content or ""
    completion = estimate_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
