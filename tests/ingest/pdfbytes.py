"""Hand-built PDFs for the hostile-file tests: every byte chosen here, so damage is exact.

reportlab makes well-formed PDFs; these helpers make the ones no writer would: page trees that
loop, cross-reference chains that loop, streams that inflate to gigabytes. ``build`` writes a
classic cross-reference table with correct offsets, so each file is broken only where a test
breaks it.
"""

from __future__ import annotations

import re
import struct
import zlib

FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"


def build(objects: dict[int, bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF of ``objects`` (number -> body, without ``n 0 obj``), its xref table and trailer."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    start, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\n" % (size, root, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def build_with_xref_stream(objects: dict[int, bytes], *, prev: str = "") -> bytes:
    """Like ``build`` but with a PDF 1.5 cross-reference stream; ``prev="self"`` makes /Prev point at it."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref_number = max(objects) + 1
    offsets[xref_number] = start = len(out)
    rows = [b"\x00" + (0).to_bytes(4, "big") + b"\xff\xff"]
    for number in range(1, xref_number + 1):
        used = number in offsets
        rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00\x00" if used else b"\x00" * 7)
    body = b"".join(rows)
    extra = b"/Prev %d " % start if prev == "self" else b""
    out += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R %s/Length %d >>\nstream\n"
        % (xref_number, xref_number + 1, extra, len(body))
        + body
        + b"\nendstream\nendobj\n"
    )
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def stream(content: bytes, *, flate: bool = False, level: int = 6) -> bytes:
    data = zlib.compress(content, level) if flate else content
    extra = b"/Filter /FlateDecode " if flate else b""
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def text_stream(text: str, *, flate: bool = False) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")
    return stream(b"BT /F1 12 Tf 72 720 Td (" + escaped + b") Tj ET", flate=flate)


def page(parent: int, contents: bytes, font: int = 5) -> bytes:
    """A page object; ``contents`` is e.g. b"4 0 R" or b"[6 0 R 4 0 R]"."""
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %s "
        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (parent, contents, font)
    )


def one_page(text: str = "hello from a hand-built pdf", *, flate: bool = False) -> dict[int, bytes]:
    """The objects of a valid one-page PDF: 1 catalog, 2 pages, 3 page, 4 contents, 5 font."""
    return {
        1: CATALOG,
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: page(2, b"4 0 R"),
        4: text_stream(text, flate=flate),
        5: FONT,
    }


def startxref(data: bytes) -> int:
    found = re.search(rb"startxref\s+(\d+)", data)
    assert found, "no startxref"
    return int(found.group(1))


def zeros_deflated(mebibytes: int) -> bytes:
    """A valid zlib stream of ``mebibytes`` MiB of zero bytes (~1 KB per MiB), in milliseconds.

    A full flush after each MiB resets the compressor, so every MiB after the first compresses to
    the same bytes: they are repeated instead of computed. The Adler-32 of n zero bytes is (n, 1).
    """
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    size = mebibytes << 20
    return first + again * (mebibytes - 1) + b"\x03\x00" + struct.pack(">I", (size % 65521) << 16 | 1)


def flate_stream(deflated: bytes) -> bytes:
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(deflated) + deflated + b"\nendstream"
