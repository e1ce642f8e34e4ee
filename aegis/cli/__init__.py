"""The ``aegis`` command: administration (db, tenants, keys) and ``aegis dev``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aegis.cli.common import admin_session, api_call, echo_json, emit, json_option, redact_url
from aegis.config import SettingsError, load_settings
from aegis.vocabulary import AUDIT_ACTIONS, KEY_SCOPES, DocumentStatus

# The exit status of a usage error (click's, argparse's): the command never ran.
EXIT_CONFIG = 2

if TYPE_CHECKING:
    from aegis.cli.client import Client


class _AegisGroup(click.Group):
    """Every subcommand that loads settings refuses bad ones the same way.

    ``load_settings`` raises :class:`SettingsError` naming the variable; one handler
    here turns it into ``aegis: error: <message>`` and exit status 2, instead of a
    traceback from whichever command happened to load them.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            click.echo(f"aegis: error: {exc}", err=True)
            ctx.exit(EXIT_CONFIG)


@click.group(cls=_AegisGroup)
@click.version_option(package_name="aegis", message="%(prog)s %(version)s")
def main() -> None:
    """Aegis: validate, parse and enrich uploaded documents.

    Settings come from AEGIS_* environment variables; with none set, Aegis uses
    SQLite and a local folder in your user data directory (AEGIS_DATA_DIR
    overrides it), the same one whichever directory a command runs from.
    """


# --- database -------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
@json_option
def db_upgrade(revision: str, as_json: bool) -> None:
    """Apply the Alembic migrations (safe to run repeatedly)."""
    from aegis.persistence import migrate

    settings = load_settings()
    with admin_session(settings, create=True):
        migrate.upgrade(settings, revision)
    database = redact_url(settings.database_url)
    if as_json:
        echo_json({"revision": revision, "database": database})
    else:
        click.echo(f"database at {revision}: {database}", err=True)


# --- tenants and keys ----------------------------------------------------------------


@main.group()
def tenant() -> None:
    """Create and list tenants."""


@tenant.command("create")
@click.argument("name")
@json_option
def tenant_create(name: str, as_json: bool) -> None:
    """Create tenant NAME and print its first API key (shown once)."""
    from aegis.services import audit
    from aegis.services.tenants import create_tenant

    with admin_session() as session:
        issued = create_tenant(session, name)
        audit.record(session, issued.tenant_id, "key.create", "created", audit.Actor(key_id=issued.key_id),
                     detail={"scope": issued.scope, "by": "cli", "first": True})
    emit(as_json, {"tenant": issued.tenant_name, "tenant_id": issued.tenant_id, "api_key": issued.api_key}, [
        f"tenant {issued.tenant_name} created ({issued.tenant_id})",
        f"API key (shown once, keep it safe): {issued.api_key}",
    ])


@tenant.command("list")
@json_option
def tenant_list(as_json: bool) -> None:
    """List tenants with their key count."""
    from sqlalchemy import select

    from aegis.persistence.models import Tenant
    from aegis.services import limits

    with admin_session() as session:
        rows = [
            {"tenant": t.name, "tenant_id": t.id, "created_at": t.created_at,
             "active_keys": sum(1 for k in t.keys if k.revoked_at is None), "limits": limits.describe(t)}
            for t in session.scalars(select(Tenant).order_by(Tenant.name))
        ]
    emit(as_json, rows, (f"{r['tenant']:<30} {r['tenant_id']}  keys: {r['active_keys']}" for r in rows))


@tenant.command("set-limits")
@click.argument("name")
@click.option("--max-documents-per-day", type=click.IntRange(min=0), help="New documents a UTC day.")
@click.option("--max-bytes-per-day", type=click.IntRange(min=0), help="Bytes of new documents a UTC day.")
@click.option("--max-pages-per-day", type=click.IntRange(min=0),
              help="Pages a UTC day (counted after metadata; a document past it is rejected).")
@click.option("--max-stored-bytes", type=click.IntRange(min=0), help="Bytes stored at once.")
@click.option("--requests-per-second", type=click.FloatRange(min=0), help="API requests a second, all replicas.")
@click.option("--burst", "rate_burst", type=click.IntRange(min=0),
              help="Requests allowed at once above the rate (default: one second's worth).")
@click.option("--retention-days", type=click.IntRange(min=0), help="Delete documents older than this.")
@click.option("--max-in-flight", type=click.IntRange(min=0),
              help="Documents in the queues at once (default: AEGIS_TENANT_MAX_IN_FLIGHT).")
@json_option
def tenant_set_limits(name: str, as_json: bool, **values: float | None) -> None:
    """Set NAME's quotas, rate limit, retention and fair-share cap; 0 removes a limit, unnamed ones stay."""
    from aegis.services import audit, limits
    from aegis.services.tenants import find_tenant

    changes = {k: v for k, v in values.items() if v is not None}
    with admin_session() as session:
        found = find_tenant(session, name)
        before = limits.describe(found)
        now = limits.set_limits(found, changes)
        audit.record(session, found.id, "limits.change", "changed",
                     detail={"by": "cli", "changed": {k: [before[k], v] for k, v in now.items() if before[k] != v}})
        out = {"tenant": found.name, "tenant_id": found.id, "limits": now}
    emit(as_json, out, [f"{out['tenant']}:"] + [f"  {k}: {'no limit' if v is None else v}" for k, v in now.items()])


@tenant.command("set-callback")
@click.argument("name")
@click.argument("url", required=False)
@json_option
def tenant_set_callback(name: str, url: str | None, as_json: bool) -> None:
    """Send NAME's webhooks to URL when an upload names none (no URL: stop sending)."""
    from aegis.services import webhooks
    from aegis.services.tenants import find_tenant

    settings = load_settings()
    with admin_session(settings) as session:
        if url:
            webhooks.check_url(url, settings)
        found = find_tenant(session, name)
        found.callback_url = url or None
        out = {"tenant": found.name, "callback_url": found.callback_url}
    emit(as_json, out, f"{out['tenant']}: webhooks to {out['callback_url'] or 'nowhere'}")


@main.group()
def key() -> None:
    """Create, list and revoke API keys."""


@key.command("create")
@click.argument("tenant_name")
@click.option("--scope", type=click.Choice(KEY_SCOPES), default="write", show_default=True,
              help="read: list, get, content, events, search; write: also upload, reprocess, delete; "
                   "admin: also the audit log.")
@json_option
def key_create(tenant_name: str, scope: str, as_json: bool) -> None:
    """Issue another API key for TENANT_NAME (shown once)."""
    from aegis.services import audit
    from aegis.services.tenants import create_key

    with admin_session() as session:
        issued = create_key(session, tenant_name, scope)
        audit.record(session, issued.tenant_id, "key.create", "created", audit.Actor(key_id=issued.key_id),
                     detail={"scope": scope, "by": "cli"})
    emit(as_json, {"tenant": issued.tenant_name, "key_id": issued.key_id, "scope": issued.scope,
                   "api_key": issued.api_key},
         f"{issued.scope} API key for {issued.tenant_name} (shown once): {issued.api_key}")


@key.command("list")
@click.argument("tenant_name")
@json_option
def key_list(tenant_name: str, as_json: bool) -> None:
    """List TENANT_NAME's keys (prefixes only; keys are stored hashed)."""
    from aegis.services.tenants import find_tenant

    with admin_session() as session:
        rows = [
            {"key_id": k.id, "prefix": k.prefix, "scope": k.scope, "created_at": k.created_at,
             "revoked_at": k.revoked_at}
            for k in find_tenant(session, tenant_name).keys
        ]
    emit(as_json, rows,
         (f"{r['key_id']}  {r['prefix']}…  {r['scope']:<5}  {'revoked' if r['revoked_at'] else 'active'}"
          for r in rows))


@key.command("revoke")
@click.argument("key_id")
@json_option
def key_revoke(key_id: str, as_json: bool) -> None:
    """Revoke a key by its id or prefix; requests with it get 401 from now on."""
    from aegis.services import audit
    from aegis.services.tenants import revoke_key

    with admin_session() as session:
        revoked = revoke_key(session, key_id)
        audit.record(session, revoked.tenant_id, "key.revoke", "revoked", audit.Actor(key_id=revoked.id),
                     detail={"by": "cli"})
        out = {"key_id": revoked.id, "revoked_at": revoked.revoked_at}
    emit(as_json, out, f"revoked {out['key_id']}")


@main.command("audit")
@click.argument("tenant_name")
@click.option("--since", help="Only events at or after this ISO 8601 time (UTC if no offset).")
@click.option("--action", type=click.Choice(AUDIT_ACTIONS), help="Only this action.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=1), help="At most this many events.")
@json_option
def audit_cmd(tenant_name: str, since: str | None, action: str | None, limit: int, as_json: bool) -> None:
    """TENANT_NAME's audit log, oldest first: who did what to which document, and how it ended."""
    from aegis.services import audit
    from aegis.services.tenants import TenantError, find_tenant

    with admin_session() as session:
        tenant_id = find_tenant(session, tenant_name).id
        try:
            events, _ = audit.list_events(session, tenant_id, since=audit.parse_since(since), action=action,
                                          limit=limit)
        except audit.InvalidQuery as exc:
            raise TenantError(str(exc)) from exc
        rows = [audit.to_dict(e) for e in events]
    emit(as_json, rows, (
        f"{r['at']}  {r['action']:<16} {r['outcome']:<20} key={r['key_id'] or '-'} "
        f"doc={r['document_id'] or '-'} from={r['client'] or '-'}" for r in rows
    ))


# --- dev ---------------------------------------------------------------------------------


@main.command()
@click.option("--port", default=8000, show_default=True, help="Gateway port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Gateway address.")
@click.option("--flower-port", default=5555, show_default=True, help="Flower port (0 to skip Flower).")
@click.option("--concurrency", default=1, show_default=True, help="Processes per stage worker.")
@click.option("--json", "as_json", is_flag=True, help="Print the URLs as one JSON line on start.")
@click.option("--verbose", "-v", is_flag=True,
              help="Show every process's output here (default: log files in the data directory).")
def dev(port: int, host: str, flower_port: int, concurrency: int, as_json: bool, verbose: bool) -> None:
    """Run everything in the foreground: gateway, one worker per stage, beat, Flower.

    With no configuration it needs no server (SQLite, a filesystem broker, a local
    storage folder, the local AI provider). Set AEGIS_DATABASE_URL and
    AEGIS_BROKER_URL to use PostgreSQL and Redis. Ctrl-C stops every process.
    Quiet by default: the processes log to files under the data directory's logs/.
    """
    from aegis.cli.devserver import run_dev

    sys.exit(run_dev(load_settings(), host=host, port=port, flower_port=flower_port, concurrency=concurrency,
                     as_json=as_json, verbose=verbose))


# --- blob storage ---------------------------------------------------------------------


@main.group()
def storage() -> None:
    """Blob store commands."""


@storage.command("migrate")
@click.option("--to", "to_url", required=True, metavar="URL",
              help="Destination store: s3://bucket/prefix (or file:///path).")
@click.option("--from", "from_url", default=None, metavar="URL",
              help="Source store (default: AEGIS_STORAGE_URL, or the storage folder).")
@json_option
def storage_migrate(to_url: str, from_url: str | None, as_json: bool) -> None:
    """Copy every blob to another store, verifying each sha256; safe to re-run.

    Blobs the destination already holds are skipped, so an interrupted run resumes
    where it stopped. The destination uses the same AEGIS_S3_* and AWS_* settings as
    the processes will. When it ends with nothing corrupt, set AEGIS_STORAGE_URL to
    URL and restart the gateway and workers. Exit status 1 if any blob is corrupt.
    """
    import os

    from aegis.cli.storage import run_migration
    from aegis.persistence.storage import open_store

    env = dict(os.environ)
    source_settings = load_settings({**env, "AEGIS_STORAGE_URL": from_url} if from_url else env)
    dest_settings = load_settings({**env, "AEGIS_STORAGE_URL": to_url})
    if open_store(source_settings).location == open_store(dest_settings).location:
        raise click.UsageError("the destination is the source")
    report = run_migration(source_settings, dest_settings, quiet=as_json)
    emit(as_json, {
        "copied": report.copied, "skipped": report.skipped, "bytes_copied": report.bytes_copied,
        "corrupt": report.corrupt,
    }, [f"{report.copied} copied ({report.bytes_copied} bytes), {report.skipped} already there, "
        f"{len(report.corrupt)} corrupt"] + [f"corrupt (not copied): {name}" for name in report.corrupt])
    if report.corrupt:
        sys.exit(1)


# --- extract (everything in this process) ---------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.option("--text", "text_only", is_flag=True, help="Print only the text (pipe-friendly).")
@click.option("--no-ai", is_flag=True, help="Skip the AI stage (no summary, keywords or embeddings).")
def extract(files: tuple[Path, ...], as_json: bool, text_only: bool, no_ai: bool) -> None:
    """Run every stage on FILES in this process: no server, broker or database to set up.

    Uses the same stages as the workers (OCR included) and the configured AI
    provider. Exits 0 when every file succeeded, 1 when any was rejected or failed.
    """
    import json

    from aegis.pipeline.inprocess import extract as run_extract
    from aegis.pipeline.inprocess import local_settings

    if as_json and text_only:
        raise click.UsageError("--json and --text cannot be used together.")
    ok = True
    with local_settings(load_settings()) as settings:
        for path in files:
            result = run_extract(settings, path, ai=not no_ai)
            ok = ok and result["status"] == "succeeded"
            if as_json:
                click.echo(json.dumps(result, default=str, ensure_ascii=False))
            elif text_only:
                click.echo("\n\n".join(page["text"] for page in result["pages"]))
            else:
                _print_extracted(result)
    sys.exit(0 if ok else 1)


def _print_extracted(result: dict[str, object]) -> None:
    meta = result.get("metadata") or {}
    assert isinstance(meta, dict)
    error = result.get("error")
    status = f"{result['status']}" + (f" ({error['code']}: {error['message']})" if isinstance(error, dict) else "")
    click.echo(f"{result['file']}: {status}")
    if result["status"] != "succeeded":
        return
    pages = result.get("pages") or []
    assert isinstance(pages, list)
    ocr = (meta.get("ocr") or {}).get("pages", 0)
    click.echo(f"  {result.get('mime')}, {len(pages)} page(s), {ocr} read by OCR, {result['chunks']} chunk(s), "
               f"language {meta.get('language') or '?'}")
    for key in ("title", "author", "created_at"):
        if meta.get(key):
            click.echo(f"  {key}: {meta[key]}")
    ai = result.get("ai")
    if isinstance(ai, dict) and ai.get("summary"):
        click.echo(f"  summary: {str(ai['summary'])[:300]}")


# --- client commands (talk to a running gateway) -----------------------------------------

url_option = click.option("--url", envvar="AEGIS_URL", default="http://127.0.0.1:8000", show_default=True,
                          help="Gateway URL (AEGIS_URL).")
key_option = click.option("--api-key", envvar="AEGIS_API_KEY", help="API key (AEGIS_API_KEY).")


def _client(url: str, api_key: str | None) -> Client:
    from aegis.cli.client import Client

    return api_call(Client, url, api_key)


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
    api_call(client.health)  # a gateway that is down is one line, not a table of failed uploads
    results = run_upload(client, list(files), wait=wait, timeout=timeout, password=password, quiet=as_json)
    if as_json:
        echo_json(results)
    ok = all(r["status"] == "succeeded" if wait else r["status"] != "error" for r in results)
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("document_id")
@url_option
@key_option
@json_option
def status(document_id: str, url: str, api_key: str | None, as_json: bool) -> None:
    """Show a document's status, stages, metadata and AI results."""
    doc = api_call(_client(url, api_key).document, document_id)
    if as_json:
        echo_json(doc)
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
    page = api_call(_client(url, api_key).list, status_filter, limit, cursor)
    if as_json:
        echo_json(page)
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
    found = api_call(_client(url, api_key).search, query, k, document_id)
    if as_json:
        echo_json(found)
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
    doc = api_call(_client(url, api_key).reprocess, document_id)
    emit(as_json, doc, f"{doc['id']} queued again")


@main.command("rm")
@click.argument("document_ids", nargs=-1, required=True)
@url_option
@key_option
@json_option
def rm(document_ids: tuple[str, ...], url: str, api_key: str | None, as_json: bool) -> None:
    """Delete documents: file, rows and vectors."""
    client = _client(url, api_key)
    for document_id in document_ids:
        api_call(client.delete, document_id)
    emit(as_json, {"deleted": list(document_ids)}, f"deleted {len(document_ids)}")
