"""``aegis storage migrate``: the progress bar and one-line errors around the copy."""

from __future__ import annotations

import click

from aegis.config import Settings
from aegis.persistence.blob_migration import MigrationReport, migrate_blobs
from aegis.persistence.storage import StorageError, open_store


def run_migration(source_settings: Settings, dest_settings: Settings, *, quiet: bool) -> MigrationReport:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    source, dest = open_store(source_settings), open_store(dest_settings)
    console = Console(stderr=True, quiet=quiet)
    try:
        dest.check()
        # Counted first so the bar has an end; listing is cheap next to copying.
        total = sum(1 for _ in source.iter_blobs())
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task(f"{source.location} → {dest.location}", total=total)
            return migrate_blobs(source, dest, lambda *_: progress.advance(bar))
    except StorageError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc} (re-run to resume)") from exc
