"""Import, before the pool forks, what stage tasks would otherwise import in every pool child.

Parsers and drivers are imported lazily (inside functions) so that ``aegis``
imports fast and embedded mode needs none of them. In a Celery prefork worker
that laziness is paid by each pool child on its first tasks: the PostgreSQL
driver, lxml, pypdf, libmagic, ... (about a second of CPU per child,
and again for every child replaced after ``worker_max_tasks_per_child``).
Imported once in the worker's main process, the children inherit the modules
through ``fork``.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger("aegis.pipeline.runner")

#: Modules the runner and the stages import on first use. Optional integrations that
#: pull in much more (openai, pinecone, the MiniLM weights) are left to the children,
#: and so is pdfium, which initialises its C library when imported: each child starts
#: its own rather than inheriting one through fork.
MODULES = (
    "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg",
    "redis",
    "email.parser",
    "email.policy",
    "lxml.etree",
    "lxml.html",
    "defusedxml",
    "charset_normalizer",
    "dateutil.parser",
    "magic",
    "olefile",
    "pypdf",
    "pypdf.generic",
    "xlrd",
    "openpyxl.utils.datetime",
    "openpyxl.styles.numbers",
    "compressed_rtf",
    "striprtf.striprtf",
    "extract_msg",
)


def preload(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Import ``modules``; returns those that could not be imported (an optional one missing is fine)."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a child imports it again and reports the real error
            missing.append(name)
    if missing:
        log.debug("not preloaded: %s", ", ".join(missing))
    return missing
