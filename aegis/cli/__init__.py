"""The ``aegis`` command: administration (db, tenants, keys) and ``aegis dev``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from aegis.config import load_settings
from aegis.vocabulary import DocumentStatus


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def db_upgrade(revision: str, as_json: bool) -> None:
    """Apply the Alembic migrations (safe to run repeatedly)."""
    from aegis.persistence import migrate

    settings = load_settings()
    migrate.upgrade(settings, revision)
    if as_json:
        _echo_json({"revision": revision, "database": _redact(settings.database_url)})
    else:
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
    from aegis.persistence.db import session_scope
    from aegis.services.tenants import TenantError, create_tenant

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

    from aegis.persistence.db import session_scope
    from aegis.persistence.models import Tenant

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


@tenant.command("set-callback")
@click.argument("name")
@click.argument("url", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def tenant_set_callback(name: str, url: str | None, as_json: bool) -> None:
    """Send NAME's webhooks to URL when an upload names none (no URL: stop sending)."""
    from aegis.persistence.db import session_scope
    from aegis.services import webhooks
    from aegis.services.tenants import TenantError, find_tenant

    settings = load_settings()
    try:
        if url:
            webhooks.check_url(url, settings)
        with session_scope(settings) as session:
            found = find_tenant(session, name)
            found.callback_url = url or None
            out = {"tenant": found.name, "callback_url": found.callback_url}
    except (TenantError, webhooks.WebhookError) as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_json(out) if as_json else click.echo(f"{out['tenant']}: webhooks to {out['callback_url'] or 'nowhere'}")


@main.group()
def key() -> None:
    """Create, list and revoke API keys."""


@key.command("create")
@click.argument("tenant_name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def key_create(tenant_name: str, as_json: bool) -> None:
    """Issue another API key for TENANT_NAME (shown once)."""
    from aegis.persistence.db import session_scope
    from aegis.services.tenants import TenantError, create_key

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
    from aegis.persistence.db import session_scope
    from aegis.services.tenants import TenantError, find_tenant

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
    from aegis.persistence.db import session_scope
    from aegis.services.tenants import TenantError, revoke_key

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
@click.option("--json", "as_json", is_flag=True, help="Print the URLs as one JSON line on start.")
def dev(port: int, host: str, flower_port: int, concurrency: int, as_json: bool) -> None:
    """Run everything in the foreground: gateway, one worker per stage, beat, Flower.

    With no configuration it needs no server (SQLite, a filesystem broker, a local
    storage folder, the local AI provider). Set AEGIS_DATABASE_URL and
    AEGIS_BROKER_URL to use PostgreSQL and Redis. Ctrl-C stops every process.
    """
    from aegis.cli.devserver import run_dev

    sys.exit(run_dev(load_settings(), host=host, port=port, flower_port=flower_port, concurrency=concurrency,
                     as_json=as_json))


# --- client commands (talk to a running gateway) -----------------------------------------

url_option = click.option("--url", envvar="AEGIS_URL", default="http://127.0.0.1:8000", show_default=True,
                          help="Gateway URL (AEGIS_URL).")
key_option = click.option("--api-key", envvar="AEGIS_API_KEY", help="API key (AEGIS_API_KEY).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _client(url: str, api_key: str | None) -> Any:
    from aegis.cli.client import ApiError, Client

    try:
        return Client(url, api_key)
    except ApiError as exc:
        raise click.ClickException(exc.detail) from exc


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from aegis.cli.client import ApiError

    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--wait", is_flag=True, help="Wait until every document ends; show its stages.")
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait with --wait.")
@click.option("--password", help="Password for encrypted PDFs (used to open them, never stored).")
@url_option
@key_option
@json_option
def upload(files: tuple[Path, ...], wait: bool, timeout: int, password: str | None,
           url: str, api_key: str | None, as_json: bool) -> None:
    """Upload FILES; with --wait, follow each through validate, metadata, content and ai.

    Exits 0 when every document succeeded (or, without --wait, was accepted), 1 otherwise.
    """
    from aegis.cli.uploader import run_upload

    client = _client(url, api_key)
    results = run_upload(client, list(files), wait=wait, timeout=timeout, password=password, quiet=as_json)
    if as_json:
        _echo_json(results)
    ok = all(r["status"] == "succeeded" if wait else r["status"] != "error" for r in results)
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("document_id")
@url_option
@key_option
@json_option
def status(document_id: str, url: str, api_key: str | None, as_json: bool) -> None:
    """Show a document's status, stages, metadata and AI results."""
    doc = _call(_client(url, api_key).document, document_id)
    if as_json:
        _echo_json(doc)
        return
    click.echo(f"{doc['filename']}  {doc['id']}")
    click.echo(f"status: {doc['status']}" + (f"  ({doc['error']['code']}: {doc['error']['message']})"
                                              if doc["error"] else ""))
    for name, run in doc["stages"].items():
        took = f"{run['duration_ms']} ms" if run["duration_ms"] is not None else ""
        click.echo(f"  {name:<9} {run['status']:<10} attempts {run['attempts']}  {took}")
    meta = doc.get("metadata") or {}
    for key in ("pages", "title", "author", "language", "created_at"):
        if meta.get(key) is not None:
            click.echo(f"  {key}: {meta[key]}")
    if doc.get("ai"):
        click.echo(f"  summary: {doc['ai'].get('summary', '')[:300]}")
        click.echo(f"  keywords: {', '.join(doc['ai'].get('keywords') or [])}")


@main.command("ls")
@click.option("--status", "status_filter",
              type=click.Choice([str(s) for s in DocumentStatus]))
@click.option("--limit", default=50, show_default=True)
@click.option("--cursor", help="next_cursor from a previous page.")
@url_option
@key_option
@json_option
def ls_(status_filter: str | None, limit: int, cursor: str | None, url: str, api_key: str | None,
        as_json: bool) -> None:
    """List documents, newest first."""
    page = _call(_client(url, api_key).list, status_filter, limit, cursor)
    if as_json:
        _echo_json(page)
        return
    for doc in page["documents"]:
        code = doc["error"]["code"] if doc["error"] else ""
        click.echo(f"{doc['id']}  {doc['status']:<10} {code:<16} {doc['filename']}")
    if page.get("next_cursor"):
        click.echo(f"more: aegis ls --cursor {page['next_cursor']}", err=True)


@main.command()
@click.argument("query")
@click.option("-k", default=10, show_default=True, help="How many results.")
@click.option("--document", "document_id", help="Search within one document.")
@url_option
@key_option
@json_option
def search(query: str, k: int, document_id: str | None, url: str, api_key: str | None, as_json: bool) -> None:
    """Semantic search over your documents."""
    found = _call(_client(url, api_key).search, query, k, document_id)
    if as_json:
        _echo_json(found)
        return
    for hit in found["results"]:
        pages = f"p.{hit['page_start']}" + (f"-{hit['page_end']}" if hit["page_end"] != hit["page_start"] else "")
        click.echo(f"{hit['score']:.3f}  {hit['filename']} {pages}  {hit['document_id']}")
        click.echo("       " + " ".join(hit["text"].split())[:160])


@main.command()
@click.argument("document_id")
@url_option
@key_option
@json_option
def reprocess(document_id: str, url: str, api_key: str | None, as_json: bool) -> None:
    """Run a document through every stage again."""
    doc = _call(_client(url, api_key).reprocess, document_id)
    _echo_json(doc) if as_json else click.echo(f"{doc['id']} queued again")


@main.command("rm")
@click.argument("document_ids", nargs=-1, required=True)
@url_option
@key_option
@json_option
def rm(document_ids: tuple[str, ...], url: str, api_key: str | None, as_json: bool) -> None:
    """Delete documents: file, rows and vectors."""
    client = _client(url, api_key)
    for document_id in document_ids:
        _call(client.delete, document_id)
    _echo_json({"deleted": list(document_ids)}) if as_json else click.echo(f"deleted {len(document_ids)}")
