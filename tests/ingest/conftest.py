"""Tiny real fixtures for the ingest tests, generated at test time.

PDFs are drawn with reportlab and encrypted with pypdf, the ZIP is a real
archive, the HTML is the kind that breaks naive extractors. Nothing binary is
committed. ``bad_loaders`` writes a module of deliberately misbehaving loaders
that the parse child imports by file path, so the sandbox is tested against
real hangs, memory blow-ups and crashes without any test hook in the
production loaders.
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

PAGE_TEXT = {n: f"Page {n} is about topic{n}: alpha beta gamma.\nSecond line of page {n}." for n in (1, 2, 3)}
PDF_TITLE = "Three Page Fixture"


def make_pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A real PDF with one page per entry, each a list of text lines (an empty list is a blank page)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    if title:
        pdf.setTitle(title)
    for lines in pages:
        for i, line in enumerate(lines):
            pdf.drawString(72, 720 - 20 * i, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypt(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="session")
def page_text() -> dict[int, str]:
    """The exact text each page of ``pdf_3pages`` must come back as."""
    return PAGE_TEXT


@pytest.fixture(scope="session")
def pdf_title() -> str:
    return PDF_TITLE


@pytest.fixture(scope="session")
def pdf_factory() -> Callable[..., bytes]:
    return make_pdf


@pytest.fixture(scope="session")
def pdf_3pages() -> bytes:
    return make_pdf([PAGE_TEXT[n].split("\n") for n in (1, 2, 3)], title=PDF_TITLE)


@pytest.fixture(scope="session")
def blank_pdf() -> bytes:
    return make_pdf([[], []])


@pytest.fixture(scope="session")
def encrypted_pdf_empty_password(pdf_3pages: bytes) -> bytes:
    return encrypt(pdf_3pages, "")


@pytest.fixture(scope="session")
def encrypted_pdf(pdf_3pages: bytes) -> bytes:
    return encrypt(pdf_3pages, "user-secret")


@pytest.fixture(scope="session")
def truncated_pdf(pdf_3pages: bytes) -> bytes:
    return pdf_3pages[: len(pdf_3pages) // 2]


@pytest.fixture(scope="session")
def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document>not a pdf</w:document>")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def script_html() -> bytes:
    noise = "\n".join(
        f"<script>var secret{i} = 'SCRIPT_TEXT_{i}'; document.write('x');</script>"
        f"<style>.c{i} {{ color: red; }} /* STYLE_TEXT_{i} */</style>"
        for i in range(50)
    )
    return f"""<!DOCTYPE html>
<html><head><title>Script  Soup</title><meta name="description" content="META_TEXT">
<script src="app.js"></script><style>body {{ margin: 0 }}</style></head>
<body>{noise}
<h1>Visible   heading</h1>
<p>The only
   visible paragraph.</p>
<script type="application/ld+json">{{"JSON_LD_TEXT": 1}}</script>
<noscript>NOSCRIPT_TEXT</noscript>
<ul><li>first item</li><li>second item</li></ul>
</body></html>""".encode()


@pytest.fixture(scope="session")
def hidden_html() -> bytes:
    return b"""<html><head><title>Hidden</title></head><body>
<p>shown one</p>
<div hidden>HIDDEN_ATTR_TEXT</div>
<p style="color: red; DISPLAY : none">DISPLAY_NONE_TEXT</p>
<span style="visibility:hidden">VISIBILITY_TEXT</span>
<template><p>TEMPLATE_TEXT</p></template>
<!-- COMMENT_TEXT -->
<div style="display:none"><p>NESTED_HIDDEN_TEXT</p></div>
<p>shown<br>two</p>
<table><tr><td>cell a</td><td>cell b</td></tr></table>
<pre>code line 1
    code line 2</pre>
</body></html>"""


@pytest.fixture(scope="session")
def utf16_text() -> bytes:
    return "Grüße aus Köln.\nNaïve café — ünïcödé text.\n".encode("utf-16")  # with BOM


@pytest.fixture(scope="session")
def bad_loaders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module of misbehaving loaders; refer to one as f"{path}:ClassName"."""
    folder = tmp_path_factory.mktemp("bad_loaders")
    path = folder / "bad_loaders.py"
    path.write_text(
        textwrap.dedent(
            f"""
            import os, time
            from askdocs.types import Page, ParsedDocument

            PID_FILE = {str(folder / "hang.pid")!r}

            class Hang:
                def load(self, data):
                    with open(PID_FILE, "w") as f:
                        f.write(str(os.getpid()))
                    time.sleep(120)

            class Greedy:
                def load(self, data):
                    hoard = []
                    while True:
                        hoard.append(bytearray(16 * 1024 * 1024))

            class Abort:
                def load(self, data):
                    os.abort()

            class Exit3:
                def load(self, data):
                    os._exit(3)

            class Boom:
                def load(self, data):
                    raise ValueError("boom at byte 42")

            class Pid:
                def load(self, data):
                    return ParsedDocument(pages=(Page(1, str(os.getpid())),))

            class Noisy:
                def load(self, data):
                    print("library chatter on stdout")
                    return ParsedDocument(pages=(Page(1, data.decode()),), title="noisy")
            """
        )
    )
    return path
