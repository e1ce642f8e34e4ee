"""Errors the AI layer raises, sorted by what the pipeline should do about them.

The ai stage does not inspect SDK exceptions: every provider and vector store maps
its failures onto these three types, so the retry policy lives in one place.
``TransientAIError`` means "try the task again later" (network trouble, 429, 5xx
after the SDK's own retries, timeouts); ``PermanentAIError`` means "retrying will
not help" (bad configuration, a request the service rejects, malformed model
output after our retries); ``BudgetExceeded`` is permanent too, with a stable code
clients can switch on. Every code is declared in :mod:`aegis.vocabulary`.
"""

from __future__ import annotations

from aegis.vocabulary import ErrorCode


class AIError(Exception):
    """Base class; ``code`` is stable and safe to show to clients."""

    code: ErrorCode = ErrorCode.AI_ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        # Tokens spent before the failure (set by providers that bill), for budget accounting.
        self.usage: dict[str, int] | None = None


class TransientAIError(AIError):
    """The service may well answer next time: the task should be retried later."""

    code = ErrorCode.AI_UNAVAILABLE

    def __init__(self, message: str, *, code: ErrorCode | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        # A hint for the task's countdown when the service said how long to wait.
        self.retry_after = retry_after


class PermanentAIError(AIError):
    """Retrying the same request cannot succeed; the document fails with ``code``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, code=code)


class BudgetExceeded(PermanentAIError):
    """The tenant's token budget would be (or has been) exceeded."""

    def __init__(self, message: str, *, used: int = 0, budget: int = 0, requested: int = 0) -> None:
        super().__init__(ErrorCode.TOKEN_BUDGET_EXCEEDED, message)
        self.used = used
        self.budget = budget
        self.requested = requested
