"""Celery tasks: thin adapters from messages to ``aegis.pipeline.runner``."""

from tasks.app import app

__all__ = ["app"]
