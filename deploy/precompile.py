"""Write bytecode for the modules Aegis's processes import, and only those.

The image's root filesystem is read-only at run time, so a module without a .pyc
in the image is compiled again, in memory, by every process that imports it. pip
would compile everything it installs, about 120 MB of bytecode of which the
gateway, the workers, beat and the CLI import about 25 MB (the rest: API types
never loaded, vendored tests, Python 2 leftovers such as olefile's olefile2.py).
So the dependencies are installed without bytecode and this script, run once while
the image is built, imports what the processes import, with bytecode writing on:
Python writes a .pyc for exactly those modules. A module imported lazily later
still works, compiled in memory at first use.

It is also a smoke test of the image: every Aegis module must import with the
image's system libraries (libmagic, Tesseract), or the build fails here; and the
AWS services the Dockerfile keeps botocore's models for must still make clients.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

# The processes' entry points (deploy/compose.yaml, the Helm chart) and what Celery
# and gunicorn load by name once they run.
ENTRY_POINTS = (
    "celeryconfig",
    "tasks",
    "web",
    "web.gunicorn_conf",
    "aegis.cli",
    "celery.bin.celery",
    "celery.apps.worker",
    "celery.apps.beat",
    "celery.beat",
    "celery.worker",
    "celery.worker.consumer",
    "celery.concurrency.prefork",
    "celery.backends.redis",
    "kombu.transport.redis",
    "gunicorn.app.wsgiapp",
    "gunicorn.workers.ggevent",
    "flower.command",
)

# Run by Alembic with its context set up, or as a program: never imported bare.
SKIP_SUFFIXES = ("__main__", "persistence.migrations.env")


def our_modules() -> list[str]:
    """Every module of the aegis, tasks and web packages."""
    names = []
    for package_name in ("aegis", "tasks", "web"):
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            if not info.name.endswith(SKIP_SUFFIXES):
                names.append(info.name)
    return names


# The services whose botocore models the Dockerfile keeps (the S3 blob store and the
# credential providers it may go through); deleting one of them breaks the build here.
AWS_SERVICES = ("s3", "sts", "sso", "sso-oidc", "signin")


def check_aws_clients() -> None:
    """Make a client for each kept service and sign an S3 URL: offline, no credentials looked up.

    Client creation loads the service model, the endpoint rules and the partitions; the
    presigned URL resolves an endpoint through them, as the blob store's first call does.
    """
    import boto3

    session = boto3.session.Session(aws_access_key_id="check", aws_secret_access_key="check",
                                    region_name="eu-west-1")
    for service in AWS_SERVICES:
        session.client(service)
    url = session.client("s3").generate_presigned_url("get_object", Params={"Bucket": "aegis", "Key": "k"})
    if not (url.startswith("https://aegis.s3.") and ".amazonaws.com/k?" in url):
        raise SystemExit(f"precompile: unexpected S3 URL {url}")


def main() -> int:
    if sys.flags.dont_write_bytecode:
        print("precompile: bytecode writing is off (PYTHONDONTWRITEBYTECODE)", file=sys.stderr)
        return 1
    for name in ENTRY_POINTS:
        importlib.import_module(name)
    for name in our_modules():
        importlib.import_module(name)
    check_aws_clients()
    # HEIC support (pi-heif) is loaded at first use, not at import: load its libheif now.
    from aegis.formats.image import register_heif

    register_heif()
    print(f"precompile: {len(sys.modules)} modules imported, bytecode written for them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
