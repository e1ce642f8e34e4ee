"""``aegis storage migrate``: a populated volume moved to a bucket (a real moto server),
verified, idempotent, resumable; the blobs read back through the S3 store afterwards."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aegis.config import load_settings
from aegis.persistence.storage import VolumeBlobStore, open_store
from tests.harness import ROOT
from tests.s3server import CREDENTIALS, S3Server


def _migrate(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "aegis.cli", "storage", "migrate", "--json", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_populated_volume_moves_to_a_bucket_verified_idempotent_and_resumable(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = VolumeBlobStore(tmp_path / "storage")
    blobs = {("tenant-a", b"first document"), ("tenant-a", b"second document"), ("tenant-b", b"first document")}
    for tenant, data in blobs:
        volume.put_stream(io.BytesIO(data), tenant, 1000)
    corrupt = volume.path_for("tenant-b", "f" * 64)  # bytes that do not hash to their name
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"bit rot")
    with s3.bucket() as bucket:
        env = {**os.environ, **CREDENTIALS, "AEGIS_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
               "AEGIS_S3_ENDPOINT_URL": s3.endpoint, "AEGIS_S3_ADDRESSING_STYLE": "path"}
        env.pop("AEGIS_STORAGE_URL", None)
        target = f"s3://{bucket}/moved"

        status, report = _migrate(env, "--to", target)
        assert status == 1  # a corrupt blob is reported, not copied
        assert (report["copied"], report["skipped"], report["corrupt"]) == (3, 0, [f"tenant-b/{'f' * 64}"])

        corrupt.unlink()
        assert _migrate(env, "--to", target) == (0, {"copied": 0, "skipped": 3, "bytes_copied": 0, "corrupt": []})

        # An interrupted run (one object never arrived) is finished by the next one.
        sha = hashlib.sha256(b"second document").hexdigest()
        s3.client().delete_object(Bucket=bucket, Key=f"moved/tenant-a/{sha[:2]}/{sha}")
        status, report = _migrate(env, "--to", target)
        assert (status, report["copied"], report["skipped"]) == (0, 1, 2)

        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        moved = open_store(load_settings({**env, "AEGIS_STORAGE_URL": target}))
        assert sorted(moved.iter_blobs()) == sorted(volume.iter_blobs())
        for tenant, data in blobs:
            with moved.local_copy(tenant, hashlib.sha256(data).hexdigest()) as path:
                assert path.read_bytes() == data
        assert not [k for k in s3.keys(bucket) if "/.incoming/" in k] and s3.incomplete_uploads(bucket) == []


def test_migrating_a_store_onto_itself_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "AEGIS_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("AEGIS_STORAGE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "aegis.cli", "storage", "migrate", "--to", (tmp_path / "storage").as_uri()],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "the destination is the source" in done.stderr
