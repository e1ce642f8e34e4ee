"""The format families Aegis reads, listed once.

Detection takes its extension and MIME tables from here and dispatch finds a
family's reader here, so both agree on what is supported by construction. A new
format is a module with a ``FormatFamily`` and one line in :data:`REGISTRY`.
Families are imported explicitly; their parsing libraries load only when a
reader runs, so importing the registry stays cheap for the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from aegis.formats import (
    csv,
    doc,
    docx,
    email,
    epub,
    html,
    image,
    json,
    msg,
    odf,
    pdf,
    ppt,
    pptx,
    rtf,
    text,
    xls,
    xlsx,
    xml,
)
from aegis.formats.base import DocumentError, FormatFamily
from aegis.vocabulary import ErrorCode


class FormatRegistry:
    """Families by name, and the extension and MIME declarations they make.

    Construction refuses ambiguous declarations (two families with one name, one
    extension claimed twice) so a mistake fails at import, not on some upload.
    """

    def __init__(self, families: Iterable[FormatFamily]) -> None:
        self._families: dict[str, FormatFamily] = {}
        extensions: dict[str, str] = {}
        mimes: dict[str, str] = {}
        for family in families:
            if family.name in self._families:
                raise ValueError(f"format family {family.name!r} is registered twice")
            if not family.types:
                raise ValueError(f"format family {family.name!r} declares no file types")
            self._families[family.name] = family
            for file_type in family.types:
                ext = file_type.extension
                if ext in extensions:
                    raise ValueError(f".{ext} is claimed by both {extensions[ext]!r} and {family.name!r}")
                if not ext or ext != ext.lower() or ext.startswith("."):
                    raise ValueError(f"format family {family.name!r}: extension {ext!r} must be lower case, no dot")
                extensions[ext] = family.name
                mimes[ext] = file_type.mime
        self._extensions = MappingProxyType(extensions)
        self._mimes = MappingProxyType(mimes)

    def __iter__(self) -> Iterator[FormatFamily]:
        return iter(self._families.values())

    def __len__(self) -> int:
        return len(self._families)

    def __contains__(self, name: object) -> bool:
        return name in self._families

    def get(self, name: str) -> FormatFamily:
        """The family called ``name``; anything else is a file we do not support."""
        family = self._families.get(name)
        if family is None:
            raise DocumentError(ErrorCode.UNSUPPORTED_FORMAT)
        return family

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._families)

    @property
    def extensions(self) -> Mapping[str, str]:
        """Extension (lower case, no dot) -> the name of the family that claims it."""
        return self._extensions

    def mime_of(self, extension: str) -> str:
        """The MIME type declared for ``extension``; KeyError if no family claims it."""
        return self._mimes[extension]

    @property
    def textual(self) -> frozenset[str]:
        """Families whose files sniff as plain text, told apart by extension."""
        return frozenset(name for name, family in self._families.items() if family.textual)


REGISTRY = FormatRegistry(
    [
        pdf.FAMILY,
        text.FAMILY,
        html.FAMILY,
        xml.FAMILY,
        csv.FAMILY,
        json.FAMILY,
        email.FAMILY,
        msg.FAMILY,
        docx.FAMILY,
        doc.FAMILY,
        pptx.FAMILY,
        ppt.FAMILY,
        xlsx.FAMILY,
        xls.FAMILY,
        odf.FAMILY,
        epub.FAMILY,
        rtf.FAMILY,
        image.FAMILY,
    ]
)


def formats_table(registry: FormatRegistry = REGISTRY) -> str:
    """The README's list of supported formats, one row per family (a unit test keeps them equal).

    Derived, not written by hand, so a format added to the registry cannot go
    unmentioned in the docs. Print it with
    ``python -c "from aegis.formats.registry import formats_table; print(formats_table())"``.
    """
    lines = ["| family | extensions |", "| --- | --- |"]
    for family in registry:
        lines.append(f"| {family.name} | {', '.join(f'`.{ext}`' for ext in family.extensions)} |")
    return "\n".join(lines)
