"""Attachments built to exhaust the crawl: zip bombs (DOCX, XLSX, lying headers, 100,000 members, overlapping and odd
members), PDF streams that inflate without end or parse for ever, and a legacy XLS that asks for 16 million cells.

Each is refused while it is read, or stopped by the worker's OS limits, and recorded as "too large to read: <which
limit>" with its hash and size; the rest of the crawl is stored as usual, and the crawl's processes together stay
far below the gigabytes these files once cost.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import random
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import olefile
import pytest

from policywatch.core import config as config_module
from policywatch.crawler.extract.attachments import TOO_LARGE, AttachmentText, Limits, attachment_text, check_archive
from policywatch.crawler.extract.sandbox import AttachmentReader
from tests.conftest import OFFICE, crawl_config_text, source_toml
from tests.processes import children, command_line, descendants
from tests.test_attachments import docx_bytes, pdf_bytes, xlsx_bytes

MB = 1 << 20
CRAWL_TREE_CAP = 600 * MB  # resident memory of a crawl's processes together, while it reads every bomb below
PARAGRAPH = "<w:p><w:r><w:t>第一条　细胞治疗产品临床试验应当遵守本规范。</w:t></w:r></w:p>".encode()
ROW = b'<row><c t="inlineStr"><is><t>1</t></is></c></row>'


# -- the files ----------------------------------------------------------------------------------------------------


class Deflated(NamedTuple):
    raw: bytes  # raw deflate, as a zip member holds it
    crc32: int
    adler32: int
    size: int  # inflated


def deflated(head: bytes, block: bytes, times: int, tail: bytes) -> Deflated:
    """``head + block * times + tail``, deflated in milliseconds however large: after a full flush the compressor
    starts afresh, so every block compresses to the same bytes, made once and written ``times`` times."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    each = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.compress(tail) + compressor.flush()
    crc, adler = zlib.crc32(head), zlib.adler32(head)
    for _ in range(times):
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    return Deflated(start + each * times + end, zlib.crc32(tail, crc), zlib.adler32(tail, adler),
                    len(head) + len(block) * times + len(tail))


def inflating(base: bytes, target: str, repeat: bytes, megabytes: int = 300) -> bytes:
    """``base`` (a DOCX or XLSX) with ``target`` grown to ``megabytes`` of ``repeat`` before its closing tags:
    under a megabyte of deflate, as the DOCX that once took 876 s and 2.96 GB."""
    source, out = zipfile.ZipFile(io.BytesIO(base)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename != target:
                archive.writestr(info, data)
                continue
            cut = data.index(b"</w:body>" if target.startswith("word/") else b"</sheetData>")
            grown = deflated(data[:cut], repeat * (MB // len(repeat)), megabytes, data[cut:])
            archive.writestr(target, grown.raw, compress_type=zipfile.ZIP_STORED)  # stored as is, then named deflate
    return patched(out.getvalue(), target, method=zipfile.ZIP_DEFLATED, crc=grown.crc32, size=grown.size)


# Where a zip's local file header and its central directory entry hold a member's compression method, CRC-32 and
# uncompressed size (APPNOTE.TXT 4.3.7 and 4.3.12), and how each is packed.
LOCAL_FIELDS = {"method": 8, "crc": 14, "size": 22}
CENTRAL_FIELDS = {"method": 10, "crc": 16, "size": 24}
FIELD_FORMATS = {"method": "<H", "crc": "<I", "size": "<I"}


def patched(data: bytes, name: str, **fields: int) -> bytes:
    """The zip with ``fields`` (method, crc, size) of member ``name`` set, in its local header and central
    directory entry alike."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    out = bytearray(data)
    for field, value in fields.items():
        struct.pack_into(FIELD_FORMATS[field], out, info.header_offset + LOCAL_FIELDS[field], value)
    entry = out.find(b"PK\x01\x02")
    while entry != -1:
        length = struct.unpack_from("<H", out, entry + 28)[0]
        if out[entry + 46 : entry + 46 + length] == name.encode():
            for field, value in fields.items():
                struct.pack_into(FIELD_FORMATS[field], out, entry + CENTRAL_FIELDS[field], value)
        entry = out.find(b"PK\x01\x02", entry + 4)
    return bytes(out)


def lying(data: bytes, name: str, declared: int = 4096) -> bytes:
    """The zip with ``name``'s uncompressed size set to ``declared`` in its local header and central directory."""
    return patched(data, name, size=declared)


def many_members(count: int = 100_000) -> bytes:
    """A "DOCX" of ``count`` empty members: 10 MB, whose listing alone costs zipfile ~100 MB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        for n in range(count):
            archive.writestr(f"word/{n}", b"")
    return out.getvalue()


def overlapping() -> bytes:
    """A DOCX whose second member is the first one's bytes again (the trick of the overlapping-file zip bombs)."""
    base = docx_bytes()
    infos = zipfile.ZipFile(io.BytesIO(base)).infolist()
    first, second = infos[0], infos[1]
    out, entry = bytearray(base), base.find(b"PK\x01\x02")
    while entry != -1:
        length = struct.unpack_from("<H", out, entry + 28)[0]
        if out[entry + 46 : entry + 46 + length] == second.filename.encode():
            struct.pack_into("<I", out, entry + 42, first.header_offset)
        entry = base.find(b"PK\x01\x02", entry + 4)
    return bytes(out)


def odd_zip(how: str) -> bytes:
    """A DOCX with a second word/document.xml, or with its document compressed with bzip2 (no Office writes it)."""
    source, out = zipfile.ZipFile(io.BytesIO(docx_bytes())), io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name, and writes it
        for info in source.infolist():
            if how == "bzip2" and info.filename == "word/document.xml":
                archive.writestr(info.filename, source.read(info), compress_type=zipfile.ZIP_BZIP2)
            else:
                archive.writestr(info, source.read(info))
        if how == "duplicate":
            archive.writestr("word/document.xml", b"<w:document/>")
    return out.getvalue()


def with_embedded(data: bytes, inner: bytes) -> bytes:
    """The DOCX with a zip bomb embedded as a stored file, as Word embeds a workbook: never opened, never inflated."""
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("word/embeddings/oleObject1.xlsx", inner, compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def pdf(content: bytes) -> bytes:
    """A one-page PDF whose content stream is ``content``, Flate-compressed."""
    return pdf_of_stream(zlib.compress(content, 9))


def pdf_of_stream(stream: bytes) -> bytes:
    """A one-page PDF whose content stream is ``stream`` (zlib data, its /Filter FlateDecode)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def zlib_stream(data: Deflated) -> bytes:
    """Raw deflate in zlib's wrapping (RFC 1950: a header for a 32 KB window, the Adler-32 at the end)."""
    return b"\x78\xda" + data.raw + struct.pack(">I", data.adler32)


def far_cell_xls() -> bytes:
    """list.xls with each sheet's last cell moved to row 65,536, column 256: read naively, 16 million cells a sheet
    (300 MB from 7 KB)."""
    data = bytearray((OFFICE / "list.xls").read_bytes())
    with olefile.OleFileIO(io.BytesIO(bytes(data))) as ole:
        book = ole.openstream("Workbook").read()
    last_cells, at, current = [], 0, None
    while at + 4 <= len(book):
        kind, length = struct.unpack_from("<HH", book, at)
        if kind in (0x00FD, 0x0203, 0x027E):  # LABELSST, NUMBER, RK: row and column follow the record header
            current = at
        elif kind == 0x000A and current is not None:  # EOF of a sheet
            last_cells.append(current)
            current = None
        at += 4 + length
    for record in last_cells:  # the stream is in 64-byte mini sectors: find the record's sector in the file
        sector = record // 64 * 64
        assert record % 64 + 8 <= 64
        where = bytes(data).index(book[sector : sector + 64]) + record % 64
        struct.pack_into("<HH", data, where + 4, 65535, 255)
    return bytes(data)


class Bombs:
    """Every hostile file, by the name it is served under, each made once per test session: the first test process
    to need one makes it (seconds of CPU: 300 MB go through deflate) and leaves it in ``folder`` for the others."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.makers = {
            "bomb.docx": lambda: inflating(docx_bytes(), "word/document.xml", PARAGRAPH),
            "lying.docx": lambda: lying(self["bomb.docx"], "word/document.xml"),
            "bomb.xlsx": lambda: inflating(xlsx_bytes(), "xl/worksheets/sheet1.xml", ROW),
            "many.docx": many_members,
            "flate.pdf": lambda: pdf_of_stream(zlib_stream(deflated(b"", b" " * MB, 300, b""))),
            "operators.pdf": lambda: pdf(b"0 0 m\n" * 3_000_000),  # 18 MB of path operators: seconds of CPU, 250 MB
        }

    def __getitem__(self, name: str) -> bytes:
        path = self.folder / name
        with open(self.folder / f"{name}.lock", "w") as lock:  # one process makes it; the others wait for it
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                part = path.with_name(f"{name}.part")
                part.write_bytes(self.makers[name]())
                part.rename(path)
        return path.read_bytes()

    def all(self) -> dict[str, bytes]:
        return {name: self[name] for name in self.makers}


@pytest.fixture(scope="session")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> Bombs:
    """The session's bombs, in a folder every test process of the session shares (under pytest-xdist, the parent
    of each worker's own base folder)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "bombs"
    folder.mkdir(exist_ok=True)
    return Bombs(folder)


def peak_traced(read: callable, *args: object, **kwargs: object) -> tuple[AttachmentText, int]:
    """What ``read`` returns, and the most memory Python allocated at once while it ran (zlib's output included)."""
    tracemalloc.start()
    try:
        return read(*args, **kwargs), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- the checks, in the process that reads --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "limit"), [
    ("bomb.docx", "compression ratio over 100:1"),
    ("lying.docx", "word/document.xml inflates past the 4,096 bytes it declares"),
    ("bomb.xlsx", "compression ratio over 100:1"),
    ("many.docx", "more than 10,000 files in the archive"),
])
def test_zip_bombs_are_refused_while_inflating_a_chunk_at_a_time(name: str, limit: str, bombs: Bombs) -> None:
    data = bombs[name]
    read, peak = peak_traced(attachment_text, data, name)
    assert (read.kind, read.text, read.error) == (name[-4:], None, TOO_LARGE + limit)
    assert (read.sha256, read.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert peak < 20 * MB  # the 300 MB member never exists at once


def test_the_unpacked_total_is_counted_not_declared() -> None:
    """Under the ratio cap but over the total: a 60 MB member is stopped at the cap as it inflates."""
    honest = inflating(docx_bytes(), "word/document.xml", PARAGRAPH, megabytes=60)
    read = attachment_text(honest, "big.docx", limits=Limits(max_unpacked=50_000_000, max_ratio=10_000))
    assert read.error == TOO_LARGE + "unpacks to more than 50,000,000 bytes"


@pytest.mark.parametrize(("data", "error"), [
    (overlapping(), TOO_LARGE + "members [Content_Types].xml and _rels/.rels overlap (a zip bomb)"),
    (odd_zip("duplicate"), "corrupt DOCX: two members named word/document.xml"),
    (odd_zip("bzip2"), "corrupt DOCX: word/document.xml uses compression method 12"),
])
def test_odd_zips_are_refused(data: bytes, error: str) -> None:
    read = attachment_text(data, "odd.docx")
    assert (read.kind, read.text, read.error) == ("docx", None, error)


def test_a_bomb_embedded_in_a_docx_is_never_opened(bombs: Bombs) -> None:
    """Word embeds workbooks as zips inside the zip; no reader opens them, so the bomb stays 1 MB of bytes."""
    data = with_embedded(docx_bytes(), bombs["bomb.docx"])
    read, peak = peak_traced(attachment_text, data, "embedded.docx")
    assert read.error is None and "二、支持开展干细胞临床研究。" in read.text
    assert peak < 30 * MB


def test_xls_asking_for_16_million_cells_is_read_in_its_own_size() -> None:
    read, peak = peak_traced(attachment_text, far_cell_xls(), "far.xls")
    assert (read.kind, read.error) == ("xls", None)
    assert read.text.splitlines()[:3] == ["[试点名单]", "序号\t单位\t日期", "1\t上海市第一人民医院\t2026-11-03"]
    assert peak < 30 * MB


def test_a_pdf_flate_bomb_stops_at_pypdfs_stream_limit(bombs: Bombs) -> None:
    read = attachment_text(bombs["flate.pdf"], "flate.pdf")
    assert (read.kind, read.text) == ("pdf", None)
    assert read.error.startswith(TOO_LARGE + "a PDF stream past pypdf's limits (") and "\n" not in read.error


# -- the OS limits, on the worker -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("limits", "error"), [
    (Limits(cpu_seconds=1), "CPU time limit (1 s)"),
    (Limits(memory_mb=256), "memory (256 MB)"),
    (Limits(timeout=1), "time limit (1 s)"),  # wall clock, for a worker that sleeps or waits
])
def test_worker_limits_stop_a_pdf_that_parses_for_ever(limits: Limits, error: str, bombs: Bombs) -> None:
    """18 MB of path operators take pypdf seconds of CPU and 250 MB to tokenise: each limit stops it, and the pool
    replaces its worker for the next file."""
    reader = AttachmentReader(limits)
    try:
        data = bombs["operators.pdf"]
        read = reader.read(data, "operators.pdf")
        assert (read.kind, read.text, read.error) == ("pdf", None, TOO_LARGE + error)
        assert (read.sha256, read.size) == (hashlib.sha256(data).hexdigest(), len(data))
        after = reader.read(pdf_bytes(), "next.pdf")
        assert after.error is None and "Interim Measures for Cell Therapy Pilots" in after.text
    finally:
        reader.close()


def test_a_workers_start_is_not_counted_in_the_first_files_time() -> None:
    """A worker's start (Python and the readers' imports, slower still on a busy machine) is not the file's time: the
    first file gets its whole wall-clock limit, once the worker is ready."""
    reader = AttachmentReader(Limits(timeout=0.25))
    try:
        started = time.monotonic()
        read = reader.read(pdf_bytes(), "first.pdf")
        took = time.monotonic() - started
    finally:
        reader.close()
    assert read.error is None and "Interim Measures for Cell Therapy Pilots" in read.text
    assert took > 0.25  # the control: start and file together took longer than the file may



@pytest.mark.parametrize("behaviour", ["exit 3", "echo hello; exec sleep 30", "exec sleep 30"],
                         ids=["dies at once", "says something else", "never answers"])
def test_a_reader_process_that_never_says_ready_is_one_line_and_gone(tmp_path, monkeypatch, behaviour) -> None:
    """A reader process that cannot start (a broken interpreter, a library that hangs on import): the file is
    "could not be started" within the start limit, and no process of it is left behind."""
    from policywatch.crawler.extract import sandbox

    broken = tmp_path / "python"
    broken.write_text(f"#!/bin/sh\n{behaviour}\n", encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setattr(sandbox, "START_SECONDS", 1.0)
    monkeypatch.setattr(sys, "executable", str(broken))
    before = set(children(os.getpid()))
    reader = AttachmentReader(Limits())
    try:
        started = time.monotonic()
        read = reader.read(pdf_bytes(), "a.pdf")
        took = time.monotonic() - started
        left = set(children(os.getpid())) - before
    finally:
        reader.close()
    assert read.text is None and read.error == "corrupt PDF: the reader process could not be started"
    assert took < 1.0 + 5 and not left

def test_a_docx_too_big_to_parse_stops_at_the_memory_limit() -> None:
    """42 MB of distinct paragraphs compress only 6:1, so the archive checks let it through; parsing it would
    take lxml over a gigabyte. The worker's address-space limit stops it, whatever error the parser then gives."""
    rng = random.Random(1)
    body = b"".join(b"<w:p><w:r><w:t>%d</w:t></w:r></w:p>" % rng.randrange(10**12) for _ in range(1_000_000))
    source, out = zipfile.ZipFile(io.BytesIO(docx_bytes())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"</w:body>", body + b"</w:body>")
            archive.writestr(info.filename, data)
    check_archive(out.getvalue(), Limits())  # no bomb...
    reader = AttachmentReader(Limits())
    try:  # ...but too large to read in the memory a reader has
        assert reader.read(out.getvalue(), "big.docx").error == TOO_LARGE + "memory (448 MB)"
    finally:
        reader.close()


# -- a real crawl ---------------------------------------------------------------------------------------------------


class CrawlTreeMemory(threading.Thread):
    """The peak of the summed resident memory (VmRSS) of every crawl process this test process starts and all their
    descendants (the readers), sampled from /proc every 10 ms while the crawl runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.done, self.peak, self.saw_worker = threading.Event(), 0, False

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, self.sample())

    def sample(self) -> int:
        tree = [pid for pid in children(os.getpid()) if b"policywatch.crawler.run" in command_line(pid)]
        tree += [pid for crawl in tree for pid in descendants(crawl)]
        self.saw_worker |= any(b"policywatch.crawler.extract.sandbox" in command_line(pid) for pid in tree)
        return sum(_resident(pid) for pid in tree)


def _resident(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((line for line in status.splitlines() if line.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) * 1024


def bomb_site(root: Path, files: dict[str, bytes]) -> None:
    """A policy page linking every file, and a second page with one good PDF."""
    (root / "files").mkdir(parents=True)
    links = " ".join(f"<a href='/files/{name}'>附件{n}</a>" for n, name in enumerate(files, 1))
    (root / "index.html").write_text(
        "<ul><li><a href='/a.html'>关于印发细胞治疗试点方案的通知</a></li>"
        "<li><a href='/b.html'>关于开展干细胞临床研究备案的通知</a></li></ul>", encoding="utf-8")
    (root / "a.html").write_text(
        "<html><body><h1>关于印发细胞治疗试点方案的通知</h1><p>发布时间：2023-12-05</p><div id='zoom'>"
        f"<p>现将《细胞治疗试点方案》印发给你们，请认真贯彻执行。</p><p>{links}</p></div></body></html>",
        encoding="utf-8")
    (root / "b.html").write_text(
        "<html><body><h1>关于开展干细胞临床研究备案的通知</h1><p>发布时间：2023-12-06</p><div id='zoom'>"
        "<p>各有关单位：现将干细胞临床研究备案事项通知如下。</p><p><a href='/files/measures.pdf'>附件</a></p>"
        "</div></body></html>", encoding="utf-8")
    for name, data in {**files, "measures.pdf": pdf_bytes()}.items():
        (root / "files" / name).write_bytes(data)


def bomb_config(tmp_path: Path, base: str, limits: str) -> config_module.Config:
    path = tmp_path / "config.toml"
    path.write_text(crawl_config_text(timeout=30, max_attachment_bytes=20_000_000) + limits
                    + source_toml("bombs", f"{base}/index.html"), encoding="utf-8")
    return config_module.load(path)


@pytest.mark.exec_crawls  # its memory is measured from /proc, as a user's crawl process's would be
def test_a_crawl_of_bombs_records_them_and_stores_the_rest(tmp_path, portal, run_crawl, open_store, bombs) -> None:
    files = {**bombs.all(), "far.xls": far_cell_xls(), "fang-an.docx": docx_bytes()}
    bomb_site(tmp_path / "site", files)
    config = bomb_config(tmp_path, portal(tmp_path / "site"), "attachment_cpu_seconds = 2\n")
    store = open_store(config.db)
    memory = CrawlTreeMemory()
    memory.start()
    try:
        run_crawl(config)
    finally:
        memory.done.set()
        memory.join()

    stored = {row["url"].rsplit("/", 1)[-1]: row for row in store.db["attachments"].rows}
    assert set(stored) == {*files, "measures.pdf"}
    limits = {
        "bomb.docx": "compression ratio over 100:1", "bomb.xlsx": "compression ratio over 100:1",
        "lying.docx": "word/document.xml inflates past the 4,096 bytes it declares",
        "many.docx": "more than 10,000 files in the archive", "operators.pdf": "CPU time limit (2 s)",
    }
    for name, limit in limits.items():
        row = stored[name]
        assert (row["error"], row["text_hash"]) == (TOO_LARGE + limit, None), name
        assert (row["sha256"], row["size"]) == (hashlib.sha256(files[name]).hexdigest(), len(files[name]))
    assert stored["flate.pdf"]["error"].startswith(TOO_LARGE + "a PDF stream past pypdf's limits")
    errors = dict(store.db.execute("SELECT url, error FROM fetches WHERE kind = 'attachment'").fetchall())
    assert {url.rsplit("/", 1)[-1] for url, error in errors.items() if error} == {*limits, "flate.pdf"}

    # The rest of the crawl, as without the bombs.
    assert store.count("documents") == 2
    assert "二、支持开展干细胞临床研究。" in store.text(stored["fang-an.docx"]["text_hash"])
    assert "上海市第一人民医院" in store.text(stored["far.xls"]["text_hash"])
    assert "Interim Measures for Cell Therapy Pilots" in store.text(stored["measures.pdf"]["text_hash"])
    assert memory.saw_worker and 0 < memory.peak < CRAWL_TREE_CAP, f"peak {memory.peak / MB:.0f} MB"


def test_readers_die_with_a_crawl_killed_by_sigkill(tmp_path, portal, bombs) -> None:
    """A crawl killed mid-file leaves no reader behind: the kernel kills it with its parent."""
    bomb_site(tmp_path / "site", {"operators.pdf": bombs["operators.pdf"]})
    config = bomb_config(tmp_path, portal(tmp_path / "site"), "")
    crawl = subprocess.Popen([sys.executable, "-m", "policywatch.crawler.run", "--config", str(config.path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        worker = _wait_for(lambda: _reader_of(crawl.pid), "a reader process")
    finally:
        crawl.kill()
        crawl.wait()
    _wait_for(lambda: not _alive(worker), f"reader {worker} to end with its crawl")


def _reader_of(parent: int) -> int | None:
    return next((pid for pid in children(parent) if b"policywatch.crawler.extract.sandbox" in command_line(pid)),
                None)


def _alive(pid: int) -> bool:
    """Running, that is: neither gone nor a zombie waiting for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def _wait_for(check: callable, what: str, seconds: float = 60) -> object:
    """Poll ``check`` until it gives something true; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")
