"""A real S3-compatible HTTP server for tests: moto's standalone server on a free port.

It runs in a thread of the test process, so stopping and restarting it on the same
port keeps its buckets (moto's state lives in the process): that is how tests play a
storage outage. Workers and the gateway reach it over HTTP like any S3 endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.harness import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "aegis-test",
    "AWS_SECRET_ACCESS_KEY": "aegis-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Never let boto3 look for credentials anywhere else (a developer's ~/.aws, instance metadata).
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.endpoint)

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """What a process needs to use ``bucket`` on this server."""
        return {
            **CREDENTIALS,
            "AEGIS_STORAGE_URL": f"s3://{bucket}/{prefix}".rstrip("/"),
            "AEGIS_S3_ENDPOINT_URL": self.endpoint,
            "AEGIS_S3_ADDRESSING_STYLE": "path",
        }

    @contextmanager
    def bucket(self) -> Iterator[str]:
        """A fresh bucket, emptied (incomplete uploads too) and removed afterwards."""
        name = f"aegis-test-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        try:
            yield name
        finally:
            empty_bucket(client, name)
            client.delete_bucket(Bucket=name)

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def incomplete_uploads(self, bucket: str) -> list[str]:
        return [u["Key"] for u in self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def empty_bucket(client: Any, bucket: str) -> None:
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])


@contextmanager
def running_s3() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()
