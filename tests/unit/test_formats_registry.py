"""The format registry: every family declares what it claims, and detection agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aegis.formats import detect
from aegis.formats.base import Detection, DocumentError, FileType, FormatFamily, Limits, Page
from aegis.formats.registry import REGISTRY, FormatRegistry


def test_every_family_declares_an_extension_and_a_mime_type() -> None:
    assert len(REGISTRY) > 0
    for family in REGISTRY:
        assert family.extensions, family.name
        assert family.mimes, family.name
        assert all("/" in mime for mime in family.mimes), family.name


def test_every_extension_maps_to_exactly_one_family() -> None:
    claimed: dict[str, list[str]] = {}
    for family in REGISTRY:
        for extension in family.extensions:
            claimed.setdefault(extension, []).append(family.name)
    assert {ext: names for ext, names in claimed.items() if len(names) > 1} == {}
    assert dict(REGISTRY.extensions) == {ext: names[0] for ext, names in claimed.items()}
    assert detect.EXTENSIONS == REGISTRY.extensions


def test_detection_returns_exactly_the_registered_families(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("just words\n")
    returned = set()
    # Binary formats are recognised by content, whatever the name says (or without one).
    for kind in detect.PARSED_KINDS:
        returned.add(detect.resolve_family("", detect.Sniffed(kind, "application/octet-stream"), plain))
    # Scans and photos are recognised by their image MIME type.
    for mime in detect.IMAGE_MIMES:
        returned.add(detect.resolve_family("", detect.Sniffed("image", mime), plain))
    # Text formats all sniff as text; the extension picks the family.
    for extension in REGISTRY.extensions:
        try:
            returned.add(detect.resolve_family(extension, detect.Sniffed("text", "text/plain"), plain))
        except DocumentError as exc:
            assert exc.code == "type_mismatch"
    assert returned == REGISTRY.names
    assert detect.TEXT_FAMILIES <= REGISTRY.names


def test_detection_tables_come_from_the_declarations() -> None:
    for mime, kind in detect._ODF_MIMES.items():
        assert mime in REGISTRY.get(REGISTRY.extensions[kind]).mimes
    for kind, mime in {**detect._OOXML_MIMES, **detect._LEGACY_MIMES}.items():
        assert mime in REGISTRY.get(REGISTRY.extensions[kind]).mimes


def test_an_unknown_family_is_unsupported_format() -> None:
    assert "exe" not in REGISTRY
    with pytest.raises(DocumentError) as caught:
        REGISTRY.get("exe")
    assert caught.value.code == "unsupported_format"
    assert caught.value.rejected


def test_dispatch_refuses_a_detection_naming_an_unknown_family(tmp_path: Path) -> None:
    from aegis.formats import extract_pages

    path = tmp_path / "a.bin"
    path.write_bytes(b"x")
    with pytest.raises(DocumentError) as caught:
        extract_pages(path, Detection(mime="application/x-nope", family="nope", extension="bin"), Limits())
    assert caught.value.code == "unsupported_format"


class _Fake(FormatFamily):
    name = "fake"
    types = (FileType("pdf", "application/x-fake"),)

    def check(self, path: Path, limits: Limits, detection: Detection) -> dict[str, Any]:
        return {}

    def extract_metadata(self, path: Path, limits: Limits, detection: Detection) -> dict[str, Any]:
        return {}

    def extract_pages(self, path: Path, limits: Limits, detection: Detection) -> list[Page]:
        return []


def test_a_registry_refuses_ambiguous_declarations() -> None:
    pdf = REGISTRY.get("pdf")
    with pytest.raises(ValueError, match="claimed by both"):
        FormatRegistry([pdf, _Fake()])
    with pytest.raises(ValueError, match="registered twice"):
        FormatRegistry([pdf, pdf])


def test_the_readme_lists_exactly_the_registered_formats() -> None:
    """Issue 10, item 5: the README names every family and extension the registry accepts."""
    import re
    from pathlib import Path

    from aegis.formats.registry import REGISTRY, formats_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- formats:start -->\n(.*?)\n<!-- formats:end -->", readme, re.S)
    assert found, "README.md has no formats table"
    assert found.group(1) == formats_table()
    listed = set(re.findall(r"`\.([a-z0-9]+)`", found.group(1)))
    assert listed == set(REGISTRY.extensions)


def test_the_readme_first_screen_exports_the_variable_the_cli_reads() -> None:
    """Issue 10, item 5: it set ``KEY=`` while the client commands read AEGIS_API_KEY."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    first_screen = readme[:readme.index("## ")]
    assert "export AEGIS_API_KEY=" in first_screen
    assert "\nKEY=" not in first_screen and "$KEY" not in first_screen
