"""The ai stage task: a message carries ids only; everything else is read from the database."""

from __future__ import annotations

from tasks.app import app
from tasks.base import run_stage, stage_options


@app.task(**stage_options("ai"))
def ai(self, document_id: str, token: str) -> str:  # type: ignore[no-untyped-def]
    return run_stage(self, "ai", document_id, token)
