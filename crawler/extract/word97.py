"""Text of Word 97-2003 binary documents (.doc, and WPS Office's .wps, which uses the same format).

Many portals still attach .doc files, and no maintained Python library reads them; converters (antiword,
LibreOffice) are large system installs. The text itself is simple to reach, following [MS-DOC]: the File
Information Block (FIB) at the start of the WordDocument stream points to the piece table in the table stream,
which lists where each run of characters lives and whether it is 8-bit or UTF-16. Table rows are told apart
from cells by the paragraph properties (a row ends with a paragraph marked "table terminating").
"""

from __future__ import annotations

import bisect
import io
import struct

import olefile

_WORD_97_NFIB = 0x00C1  # earlier FIB versions are Word 6/95, laid out differently
_ENCRYPTED, _TABLE_1 = 0x0100, 0x0200  # FibBase flags: fEncrypted, fWhichTblStm
_PAGE = 512  # paragraph-property pages (FKPs) are 512-byte blocks of the WordDocument stream
_SPRM_PFTTP = 0x2417  # paragraph property: this paragraph ends a table row
_SPRM_TDEFTABLE = 0xD608  # the one variable-size property whose size takes two bytes
_OPERAND_SIZES = {0: 1, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2, 7: 3}  # by the property's spra bits; 6 is variable
# Control characters in the text stream: paragraph, line and page breaks become newlines; cell ends become tabs
# (table-row ends, found separately, become newlines); anchors of pictures, notes and objects are dropped.
_CONTROLS = str.maketrans({
    "\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x0e": "\n", "\x07": "\t", "\x1e": "-",
    **dict.fromkeys(map(chr, [0, 1, 2, 3, 4, 5, 6, 8, 0x1F]), None),
})
_FIELD_BEGIN, _FIELD_SEPARATOR, _FIELD_END = "\x13", "\x14", "\x15"


class WordError(ValueError):
    """A broken Word 97-2003 document: the message says which structure is broken."""


class UnsupportedWord(WordError):
    """A sound document this reader cannot open (encrypted, or older than Word 97); the message is the reason."""


def word97_text(data: bytes) -> str:
    """The main text of a Word 97-2003 document: paragraphs on lines, table cells separated by tabs."""
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except OSError as e:
        raise WordError(f"not an OLE2 file: {e}") from None
    with ole:
        if not ole.exists("WordDocument"):
            raise WordError("no WordDocument stream (another legacy Office format?)")
        document = ole.openstream("WordDocument").read()
        if len(document) < 0x1A2 + 8:
            raise WordError("WordDocument stream too short for a Word 97 header")
        n_fib, flags = struct.unpack_from("<HH", document, 2)[0], struct.unpack_from("<H", document, 0x0A)[0]
        if n_fib < _WORD_97_NFIB:
            raise UnsupportedWord(f"Word 6/95 document (FIB version {n_fib:#06x}), older than Word 97")
        if flags & _ENCRYPTED:
            raise UnsupportedWord("encrypted DOC")
        table_name = "1Table" if flags & _TABLE_1 else "0Table"
        if not ole.exists(table_name):
            raise WordError(f"no {table_name} stream")
        table = ole.openstream(table_name).read()
    main_length = _fib_long(document, 3)  # ccpText: characters of the main text, before notes and headers
    pieces = _pieces(_fib_pair(document, table, 33))  # fcClx / lcbClx
    row_ends = _row_end_ranges(document, _fib_pair(document, table, 13))  # fcPlcfBtePapx / lcbPlcfBtePapx
    return _drop_field_codes("".join(_read_pieces(document, pieces, main_length, row_ends)))


def _fib_offsets(document: bytes) -> tuple[int, int]:
    """Where the FIB's 32-bit values and its (offset, length) pairs start: both arrays are variable-length."""
    csw = struct.unpack_from("<H", document, 32)[0]
    longs = 32 + 2 + 2 * csw + 2
    cslw = struct.unpack_from("<H", document, longs - 2)[0]
    return longs, longs + 4 * cslw + 2


def _fib_long(document: bytes, index: int) -> int:
    return struct.unpack_from("<i", document, _fib_offsets(document)[0] + 4 * index)[0]


def _fib_pair(document: bytes, table: bytes, index: int) -> bytes:
    """The bytes of the table-stream structure that the FIB's index-th (offset, length) pair points to."""
    offset, length = struct.unpack_from("<II", document, _fib_offsets(document)[1] + 8 * index)
    if offset + length > len(table):
        raise WordError("FIB points past the end of the table stream")
    return table[offset : offset + length]


def _pieces(clx: bytes) -> list[tuple[int, int, int, bool]]:
    """The piece table: (first character, end character, stream offset, is 8-bit) for each run of text."""
    at = 0
    while at < len(clx) and clx[at] == 0x01:  # property runs (Prc) come first; only the piece table matters
        at += 3 + struct.unpack_from("<h", clx, at + 1)[0]
    if at + 5 > len(clx) or clx[at] != 0x02:
        raise WordError("no piece table")
    size = struct.unpack_from("<I", clx, at + 1)[0]
    plc = clx[at + 5 : at + 5 + size]
    count = (len(plc) - 4) // 12
    cps = struct.unpack_from(f"<{count + 1}I", plc)
    pieces = []
    for i in range(count):
        fc = struct.unpack_from("<I", plc, 4 * (count + 1) + 8 * i + 2)[0]
        compressed = bool(fc & 0x40000000)
        pieces.append((cps[i], cps[i + 1], (fc & 0x3FFFFFFF) // 2 if compressed else fc & 0x3FFFFFFF, compressed))
    return pieces


def _row_end_ranges(document: bytes, plc: bytes) -> list[tuple[int, int]]:
    """Stream byte ranges of paragraphs that end a table row (their cell mark is a row end, not a cell end)."""
    if len(plc) < 4:
        return []
    count = (len(plc) - 4) // 8
    ranges = []
    for page_number in struct.unpack_from(f"<{count}I", plc, 4 * (count + 1)):
        at = (page_number & 0x3FFFFF) * _PAGE
        page = document[at : at + _PAGE]
        if len(page) < _PAGE:
            raise WordError("paragraph properties point past the end of the document")
        runs = page[-1]
        fcs = struct.unpack_from(f"<{runs + 1}I", page)
        for i in range(runs):
            papx_at = page[4 * (runs + 1) + 13 * i] * 2
            if papx_at and _is_row_end(page, papx_at):
                ranges.append((fcs[i], fcs[i + 1]))
    return sorted(ranges)


def _is_row_end(page: bytes, at: int) -> bool:
    """Whether the paragraph properties (PapxInFkp) at `at` in an FKP page mark a table-row end."""
    size = page[at] * 2 - 1 if page[at] else page[at + 1] * 2
    start = at + 1 if page[at] else at + 2
    grpprl, at = page[start + 2 : start + size], 0  # after the 2-byte style index
    while at + 2 <= len(grpprl):
        sprm = struct.unpack_from("<H", grpprl, at)[0]
        at += 2
        if sprm == _SPRM_PFTTP:
            return at < len(grpprl) and grpprl[at] == 1
        spra = sprm >> 13
        if sprm == _SPRM_TDEFTABLE:
            at += 1 + struct.unpack_from("<H", grpprl, at)[0] if at + 2 <= len(grpprl) else len(grpprl)
        elif spra == 6:
            at += 1 + (grpprl[at] if at < len(grpprl) else 0)
        else:
            at += _OPERAND_SIZES[spra]
    return False


def _read_pieces(
    document: bytes, pieces: list[tuple[int, int, int, bool]], limit: int, row_ends: list[tuple[int, int]]
) -> list[str]:
    starts = [start for start, _ in row_ends]
    parts = []
    for cp_start, cp_end, fc, compressed in pieces:
        if cp_start >= limit:
            break
        chars = min(cp_end, limit) - cp_start
        width = 1 if compressed else 2
        raw = document[fc : fc + chars * width]
        if len(raw) < chars * width:
            raise WordError("text runs past the end of the document")
        text = raw.decode("cp1252" if compressed else "utf-16-le", errors="replace")
        if "\x07" in text:  # cell and row ends share one mark; the paragraph's properties tell them apart
            marks = list(text)
            for i, char in enumerate(marks):
                if char == "\x07" and _inside(row_ends, starts, fc + i * width):
                    marks[i] = "\n"
            text = "".join(marks)
        parts.append(text.translate(_CONTROLS))
    return parts


def _inside(ranges: list[tuple[int, int]], starts: list[int], position: int) -> bool:
    i = bisect.bisect_right(starts, position) - 1
    return i >= 0 and ranges[i][0] <= position < ranges[i][1]


def _drop_field_codes(text: str) -> str:
    """Keep what fields display (a hyperlink's words, a page number) and drop their codes (HYPERLINK "...")."""
    if _FIELD_BEGIN not in text and _FIELD_SEPARATOR not in text and _FIELD_END not in text:
        return text
    kept, open_fields, hidden = [], [], 0  # per open field: whether its result is showing; count of those not
    for char in text:
        if char == _FIELD_BEGIN:
            open_fields.append(False)
            hidden += 1
        elif char == _FIELD_SEPARATOR:  # a stray mark, outside any field, is dropped like the others
            if open_fields and not open_fields[-1]:
                open_fields[-1] = True
                hidden -= 1
        elif char == _FIELD_END:
            if open_fields:
                hidden -= not open_fields.pop()
        elif not hidden:
            kept.append(char)
    return "".join(kept)
