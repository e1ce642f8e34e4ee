"""What every ``aegis`` command shares: JSON-or-text output and one-line errors.

A command never prints a traceback for a condition the user can fix: a domain
error (unknown tenant, refused URL), an unreachable or unmigrated database, or an
API error becomes one ``Error: ...`` line and exit status 1 (click's convention).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from aegis.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def emit(as_json: bool, data: Any, text: str | Iterable[str] | Callable[[], None]) -> None:
    """Print ``data`` as JSON for scripts, or ``text`` (lines, or a printer) for people."""
    if as_json:
        echo_json(data)
    elif callable(text):
        text()
    elif isinstance(text, str):
        click.echo(text)
    else:
        for line in text:
            click.echo(line)


@contextmanager
def admin_session(settings: Settings | None = None, *, create: bool = False) -> Iterator[Session]:
    """A committed-on-success database session whose failures are one line each.

    ``create`` is for the commands that make the database (``aegis db upgrade``,
    ``aegis dev``); every other command refuses to start a new embedded one, so one
    run from the wrong place or with another ``AEGIS_DATA_DIR`` says where it looked
    instead of creating an empty instance there.
    """
    from aegis.persistence.db import session_scope

    settings = settings or load_settings()
    if not create:
        require_database(settings)
    with database_errors(settings):
        with session_scope(settings) as session:
            yield session


def require_database(settings: Settings) -> None:
    """Refuse, in one line, when the embedded (SQLite) database has not been created yet."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise click.ClickException(
            f"no Aegis database at {url.database} (AEGIS_DATA_DIR={settings.data_dir}); "
            "start `aegis dev` once, or run `aegis db upgrade`, or set AEGIS_DATA_DIR to the instance's folder"
        )


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """Turn the errors of using the database into one line (and exit status 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    from aegis.services.tenants import TenantError
    from aegis.services.webhooks import WebhookError

    try:
        yield
    except (TenantError, WebhookError) as exc:
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = (str(orig or exc).strip().splitlines() or ["unknown error"])[0]
        raise click.ClickException(
            f"cannot use the database {redact_url(settings.database_url)} ({reason}); "
            "is it running, and has `aegis db upgrade` been run?"
        ) from exc


def api_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the gateway; an API error becomes one line."""
    from aegis.cli.client import ApiError

    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from exc


def redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
