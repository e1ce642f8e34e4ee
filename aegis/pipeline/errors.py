"""Errors a stage raises to tell the runner what to do next."""

from __future__ import annotations


class TransientError(Exception):
    """Worth retrying later (network, 429, database restart)."""

    def __init__(self, message: str, retry_after: float | None = None, code: str = "transient_error") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        #: The error code the stage row shows while retries go on (``storage_unavailable``...).
        self.code = code
