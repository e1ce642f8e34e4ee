"""``aegis tenant set-limits``, ``aegis key create --scope`` and ``aegis audit``, in process on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aegis.cli import main
from aegis.persistence.db import dispose_engines


@pytest.fixture()
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def invoke(*args: str) -> object:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else result.stdout

    invoke("db", "upgrade")
    yield invoke
    dispose_engines()


def test_limits_scopes_and_key_changes_are_set_listed_and_audited(run) -> None:  # type: ignore[no-untyped-def]
    first = run("tenant", "create", "acme", "--json")
    key = run("key", "create", "acme", "--scope", "read", "--json")
    assert key["scope"] == "read"
    out = run("tenant", "set-limits", "acme", "--max-documents-per-day", "10", "--requests-per-second", "2.5",
              "--burst", "5", "--retention-days", "30", "--max-in-flight", "4", "--json")
    assert out["limits"] == {
        "max_documents_per_day": 10, "max_bytes_per_day": None, "max_pages_per_day": None,
        "max_stored_bytes": None, "requests_per_second": 2.5, "rate_burst": 5, "retention_days": 30,
        "max_in_flight": 4,
    }
    run("tenant", "set-limits", "acme", "--max-documents-per-day", "0", "--json")  # 0 removes it
    listed = run("tenant", "list", "--json")
    assert listed[0]["limits"]["max_documents_per_day"] is None and listed[0]["limits"]["max_in_flight"] == 4
    run("key", "revoke", key["key_id"], "--json")
    assert [k["scope"] for k in run("key", "list", "acme", "--json")] == ["admin", "read"]
    events = run("audit", "acme", "--json")[1:]
    assert [(e["action"], e["key_id"]) for e in events] == [
        ("key.create", key["key_id"]), ("limits.change", None), ("limits.change", None), ("key.revoke", key["key_id"]),
    ]
    assert run("audit", "acme", "--json")[0]["detail"]["scope"] == "admin" and first["api_key"]
    assert events[2]["detail"]["changed"] == {"max_documents_per_day": [10, None]}
    assert [e["action"] for e in run("audit", "acme", "--action", "key.revoke", "--json")] == ["key.revoke"]
