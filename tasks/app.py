"""The Celery application. ``celery -A tasks ...`` finds it as ``tasks.app``."""

from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging, worker_init

from tasks import metrics, probes, tracing

app = Celery("aegis")
app.config_from_object("celeryconfig")
# Stage tasks (one per registry entry), the reconciler and webhooks; imported when a worker starts.
app.conf.imports = (
    "tasks.stages", "tasks.reconcile", "tasks.webhooks", "tasks.retention",
)
metrics.install(app)
probes.install(app)
tracing.install(app)


def _configure_logging(**_kwargs: object) -> None:
    from aegis.config import load_settings
    from aegis.observability.logs import configure

    s = load_settings()
    configure(s.log_level, s.log_json)


# With a receiver on setup_logging, Celery leaves logging to us: JSON lines everywhere.
setup_logging.connect(_configure_logging, weak=False)


def _prepare_storage(**_kwargs: object) -> None:
    """Before the pool forks: stale temporaries removed, a bucket that refuses us stops the worker."""
    import logging

    from aegis.config import SettingsError, exit_on_settings_error, load_settings
    from aegis.persistence.storage import StorageMisconfigured, prepare_at_start

    try:
        prepare_at_start(load_settings(), logging.getLogger("aegis.worker"))
    except StorageMisconfigured as exc:
        exit_on_settings_error(SettingsError(f"AEGIS_STORAGE_URL: {exc}"))


worker_init.connect(_prepare_storage, weak=False)
