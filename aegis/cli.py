"""The ``aegis`` command: administration (db, tenants, keys) and ``aegis dev``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from aegis.config import load_settings


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
@click.version_option(package_name="aegis", message="%(prog)s %(version)s")
def main() -> None:
    """Aegis: validate, parse and enrich uploaded documents.

    Settings come from AEGIS_* environment variables; with none set, Aegis uses
    SQLite and a local folder under ./aegis-data.
    """


# --- database -------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations (safe to run repeatedly)."""
    from aegis import migrate

    settings = load_settings()
    migrate.upgrade(settings, revision)
    click.echo(f"database at {revision}: {_redact(settings.database_url)}", err=True)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- tenants and keys ----------------------------------------------------------------


@main.group()
def tenant() -> None:
    """Create and list tenants."""


@tenant.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def tenant_create(name: str, as_json: bool) -> None:
    """Create tenant NAME and print its first API key (shown once)."""
    from aegis.db import session_scope
    from aegis.tenants import TenantError, create_tenant

    try:
        with session_scope(load_settings()) as session:
            issued = create_tenant(session, name)
    except TenantError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json({"tenant": issued.tenant_name, "tenant_id": issued.tenant_id, "api_key": issued.api_key})
    else:
        click.echo(f"tenant {issued.tenant_name} created ({issued.tenant_id})")
        click.echo(f"API key (shown once, keep it safe): {issued.api_key}")


@tenant.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def tenant_list(as_json: bool) -> None:
    """List tenants with their key count."""
    from sqlalchemy import select

    from aegis.db import session_scope
    from aegis.models import Tenant

    with session_scope(load_settings()) as session:
        rows = [
            {"tenant": t.name, "tenant_id": t.id, "created_at": t.created_at,
             "active_keys": sum(1 for k in t.keys if k.revoked_at is None)}
            for t in session.scalars(select(Tenant).order_by(Tenant.name))
        ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['tenant']:<30} {row['tenant_id']}  keys: {row['active_keys']}")


@main.group()
def key() -> None:
    """Create, list and revoke API keys."""


@key.command("create")
@click.argument("tenant_name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def key_create(tenant_name: str, as_json: bool) -> None:
    """Issue another API key for TENANT_NAME (shown once)."""
    from aegis.db import session_scope
    from aegis.tenants import TenantError, create_key

    try:
        with session_scope(load_settings()) as session:
            issued = create_key(session, tenant_name)
    except TenantError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json({"tenant": issued.tenant_name, "key_id": issued.key_id, "api_key": issued.api_key})
    else:
        click.echo(f"API key for {issued.tenant_name} (shown once): {issued.api_key}")


@key.command("list")
@click.argument("tenant_name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def key_list(tenant_name: str, as_json: bool) -> None:
    """List TENANT_NAME's keys (prefixes only; keys are stored hashed)."""
    from aegis.db import session_scope
    from aegis.tenants import TenantError, find_tenant

    try:
        with session_scope(load_settings()) as session:
            rows = [
                {"key_id": k.id, "prefix": k.prefix, "created_at": k.created_at, "revoked_at": k.revoked_at}
                for k in find_tenant(session, tenant_name).keys
            ]
    except TenantError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        click.echo(f"{row['key_id']}  {row['prefix']}…  {state}")


@key.command("revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def key_revoke(key_id: str, as_json: bool) -> None:
    """Revoke a key by its id or prefix; requests with it get 401 from now on."""
    from aegis.db import session_scope
    from aegis.tenants import TenantError, revoke_key

    try:
        with session_scope(load_settings()) as session:
            revoked = revoke_key(session, key_id)
            out = {"key_id": revoked.id, "revoked_at": revoked.revoked_at}
    except TenantError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_json(out) if as_json else click.echo(f"revoked {out['key_id']}")


# --- dev ---------------------------------------------------------------------------------


@main.command()
@click.option("--port", default=8000, show_default=True, help="Gateway port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Gateway address.")
@click.option("--flower-port", default=5555, show_default=True, help="Flower port (0 to skip Flower).")
@click.option("--concurrency", default=1, show_default=True, help="Processes per stage worker.")
def dev(port: int, host: str, flower_port: int, concurrency: int) -> None:
    """Run everything in the foreground: gateway, one worker per stage, beat, Flower.

    With no configuration it needs no server (SQLite, a filesystem broker, a local
    storage folder, the local AI provider). Set AEGIS_DATABASE_URL and
    AEGIS_BROKER_URL to use PostgreSQL and Redis. Ctrl-C stops every process.
    """
    from aegis.devserver import run_dev

    sys.exit(run_dev(load_settings(), host=host, port=port, flower_port=flower_port, concurrency=concurrency))


if __name__ == "__main__":  # pragma: no cover
    main()
