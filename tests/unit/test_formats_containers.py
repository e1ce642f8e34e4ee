"""The lean container readers against the libraries they stand in for.

aegis.formats.cfb must list and read what olefile lists and reads, and refuse
damage olefile would wander through; aegis.formats.ziplean must answer what
zipfile answers, fail where zipfile fails, and hand unusual archives back.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import olefile
import pytest

from aegis.formats.cfb import CfbError, CompoundFile, open_compound
from aegis.formats.ziplean import LeanZip, Unsupported
from tests.corpus import CORPUS
from tests.hostile_inputs import _outlook
from tests.legacy_office import compound_file

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")

# --- compound files -----------------------------------------------------------------------


def _same_as_olefile(path: Path) -> None:
    ours = open_compound(path, 10**9)
    with olefile.OleFileIO(str(path)) as ole:
        names = {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=True)}
        assert ours.names() == names
        for entry in ole.listdir():
            name = "/".join(entry)
            assert ours.read(name) == ole.openstream(name).read(), name
            assert ours.read(name.upper()) == ours.read(name), "names compare case-blind"


def test_compound_file_lists_and_reads_what_olefile_does(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(compound_file({"WordDocument": b"w" * 5000, "1Table": b"t" * 9000, "Small": b"s" * 10}))
    _same_as_olefile(path)
    assert open_compound(path, 10**9).read("missing") is None


@needs_corpus
@pytest.mark.parametrize(
    "name", ["email/fake-email-with-cc-and-bcc.msg", "email/fake-encrypted.msg", "office/fake.doc"]
)
def test_compound_file_matches_olefile_on_corpus_files(name: str) -> None:
    _same_as_olefile(CORPUS / name)


def test_compound_file_refuses_damage_instead_of_wandering(tmp_path: Path) -> None:
    from tests.hostile_inputs import msg_directory_loops, msg_fat_chain_loops, msg_stream_past_the_end

    for case in (msg_fat_chain_loops, msg_directory_loops, msg_stream_past_the_end):
        _name, data, _expected = case()
        with pytest.raises(CfbError):
            cfb = CompoundFile(data)
            cfb.names()
            cfb.read("__substg1.0_1000001F")
    with pytest.raises(CfbError):
        CompoundFile(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))  # a header of zeros
    with pytest.raises(CfbError):
        CompoundFile(_outlook()[:700])


def test_compound_file_reads_the_unbroken_control() -> None:
    cfb = CompoundFile(_outlook())
    subject = cfb.read("__substg1.0_0037001F") or b""
    assert subject.decode("utf-16-le").rstrip("\0") == "Hostile"


# --- zip archives -------------------------------------------------------------------------


def _archive(members: dict[str, bytes], *, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for index, (name, data) in enumerate(members.items()):
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if index % 2 else zipfile.ZIP_STORED)
        zf.comment = comment
    return buffer.getvalue()


def test_lean_zip_answers_what_zipfile_answers(tmp_path: Path) -> None:
    members = {"mimetype": b"application/x", "a/b.xml": b"<a>" + b"x" * 50_000 + b"</a>", "empty": b"", "z": b"z"}
    path = tmp_path / "a.zip"
    path.write_bytes(_archive(members, comment=b"hello"))
    with LeanZip(path) as lean, zipfile.ZipFile(path) as real:
        assert lean.namelist() == real.namelist()
        for ours, theirs in zip(lean.infolist(), real.infolist(), strict=True):
            assert (ours.filename, ours.file_size, ours.compress_size, ours.flag_bits) == (
                theirs.filename,
                theirs.file_size,
                theirs.compress_size,
                theirs.flag_bits,
            )
            assert lean.read(ours.filename) == real.read(ours.filename)
        with lean.open("a/b.xml") as fh:
            assert fh.read(10) == b"<a>xxxxxxx"


def test_lean_zip_names_are_cut_at_a_nul_as_zipfile_cuts_them(tmp_path: Path) -> None:
    data = _archive({"evil.xml\0.txt": b"x"})
    path = tmp_path / "n.zip"
    path.write_bytes(data)
    with LeanZip(path) as lean, zipfile.ZipFile(path) as real:
        assert lean.namelist() == real.namelist() == ["evil.xml"]


def test_lean_zip_fails_on_a_bad_crc_like_zipfile(tmp_path: Path) -> None:
    data = bytearray(_archive({"a.xml": b"<a/>" * 100}))
    data[data.find(b"<a/>")] ^= 0xFF  # a stored member: corrupt one byte of it
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as real, pytest.raises(zipfile.BadZipFile):
        real.read("a.xml")
    with LeanZip(path) as lean, pytest.raises(zipfile.BadZipFile):
        lean.read("a.xml")


def test_lean_zip_hands_unusual_archives_back(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"MZ prefix" + _archive({"a": b"a"}))  # a self-extractor's stub before the entries
    with pytest.raises(Unsupported):
        LeanZip(path)
    with zipfile.ZipFile(path) as real:
        assert real.read("a") == b"a"
    path.write_bytes(b"PK\x03\x04 noise without a directory")
    with pytest.raises(Unsupported):
        LeanZip(path)


def test_lean_zip_inflates_a_prolog_no_further_than_asked(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    path.write_bytes(_archive({"stored": b"", "big.xml": b"\0" * 5_000_000}))
    with LeanZip(path) as lean:
        with lean.open("big.xml") as fh:
            assert fh.read(4096) == b"\0" * 4096
        assert lean.read("stored") == b""


def test_lean_zip_refuses_a_member_whose_local_name_differs(tmp_path: Path) -> None:
    data = bytearray(_archive({"a.xml": b"<a/>"}))
    local = data.find(b"a.xml")  # the local header's copy comes first
    data[local : local + 5] = b"b.xml"
    path = tmp_path / "swap.zip"
    path.write_bytes(bytes(data))
    with LeanZip(path) as lean, pytest.raises(zipfile.BadZipFile):
        lean.read("a.xml")


def test_zip64_end_record_is_left_to_zipfile(tmp_path: Path) -> None:
    data = bytearray(_archive({"a": b"a"}))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<H", data, end + 10, 0xFFFF)  # total entries: "see the Zip64 record"
    path = tmp_path / "z64.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(Unsupported):
        LeanZip(path)


# --- one parse per stage -------------------------------------------------------------------


@pytest.fixture
def count_constructions(monkeypatch: pytest.MonkeyPatch) -> Callable[[type], list[object]]:
    """Record every instance of a container class built during the test (its ``__init__`` wrapped)."""

    def count(cls: type) -> list[object]:
        built: list[object] = []
        original = cls.__init__

        def counting(self: object, *args: Any, **kwargs: Any) -> None:
            built.append(self)
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
        return built

    return count


@needs_corpus
@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("office/simple.odt", "aegis.formats.ziplean.LeanZip"),
        ("email/fake-email-with-cc-and-bcc.msg", "aegis.formats.cfb.CompoundFile"),
    ],
)
def test_validate_parses_a_container_once_and_keeps_nothing(
    name: str, reader: str, count_constructions: Callable[[type], list[object]]
) -> None:
    """Sniffing's parse is lent to the family's check, then dropped."""
    import importlib

    from aegis.formats import Limits, validate

    module_name, class_name = reader.rsplit(".", 1)
    built = count_constructions(getattr(importlib.import_module(module_name), class_name))
    path = CORPUS / name
    detection = validate(path, path.name, Limits())
    assert len(built) == 1
    assert detection.container is None


@needs_corpus
@pytest.mark.parametrize("name", ["office/sample-presentation.pptx", "office/more-than-1k-cells.xlsx"])
def test_pptx_and_xlsx_extraction_reads_the_package_validate_opened(
    name: str, count_constructions: Callable[[type], list[object]]
) -> None:
    """The archive validate opened is lent on to extraction (one read of the file, one
    parse of its directory), and the pages are those of a package opened afresh."""
    from dataclasses import replace

    from aegis.formats import Limits, extract_pages, validate

    path = CORPUS / name
    fresh = extract_pages(path, replace(validate(path, path.name, Limits()), container=None), Limits())
    built = count_constructions(LeanZip)
    detection = validate(path, path.name, Limits())
    assert isinstance(detection.container, LeanZip)
    assert extract_pages(path, detection, Limits()) == fresh
    assert extract_pages(path, detection, Limits()) == fresh  # a second reader of the lent archive
    assert len(built) == 1


# --- the zip gate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../evil", "a/../../evil", "/etc/passwd", "\\\\server\\share", "a\\b", "C:/evil", "c:evil", "x/..", ".."]
)
@pytest.mark.parametrize("position", ["first", "last"])
def test_zip_gate_refuses_every_unsafe_name_wherever_it_sits(name: str, position: str, tmp_path: Path) -> None:
    """The gate's one-search pass over all names must never clear an archive holding one."""
    from aegis.formats import DocumentError, Limits
    from aegis.formats.zipsafe import check_zip

    ordinary = {f"ppt/slides/slide{i}.xml": b"<a/>" for i in range(5)}
    members = {name: b"x", **ordinary} if position == "first" else {**ordinary, name: b"x"}
    path = tmp_path / "names.zip"
    path.write_bytes(_archive(members))
    for archive in (LeanZip(path), zipfile.ZipFile(path)):
        with archive, pytest.raises(DocumentError) as caught:
            check_zip(archive, Limits())
        assert caught.value.code == "unsafe_archive"


def test_zip_gate_passes_names_that_only_look_close(tmp_path: Path) -> None:
    from aegis.formats import Limits
    from aegis.formats.zipsafe import check_zip

    names = ["a..b.xml", "x/.hidden", "dir/file:1.xml", "ok/name.xml", "é/ü.xml"]
    path = tmp_path / "close.zip"
    path.write_bytes(_archive(dict.fromkeys(names, b"x")))
    with LeanZip(path) as archive:
        assert [info.filename for info in check_zip(archive, Limits())] == names
