"""Hidden text is left out at ingestion: HTML a reader cannot see, PDF text drawn invisibly."""

from __future__ import annotations

import io

import pytest

from ingest.loaders.html import HtmlLoader
from ingest.loaders.markdown import MarkdownLoader
from ingest.loaders.pdf import PdfLoader

pytestmark = pytest.mark.unit

VISIBLE = "The kettle boils at one hundred degrees."

HIDDEN_HTML = {
    "display none": '<div style="display: none">SECRET</div>',
    "visibility hidden": '<p style="visibility:hidden">SECRET</p>',
    "hidden attribute": "<p hidden>SECRET</p>",
    "aria-hidden": '<span aria-hidden="true">SECRET</span>',
    "white on white": '<p style="color:#ffffff">SECRET</p>',
    "short white hex": '<p style="color: #FFF !important">SECRET</p>',
    "white rgb": '<span style="color: rgb(255, 255, 255)">SECRET</span>',
    "white named": '<span style="color:white">SECRET</span>',
    "white font tag": '<font color="#fefefe">SECRET</font>',
    "transparent": '<span style="color: rgba(0,0,0,0)">SECRET</span>',
    "font size 0": '<span style="font-size:0">SECRET</span>',
    "font size 1px": '<span style="font-size: 1px">SECRET</span>',
    "opacity 0": '<div style="opacity:0">SECRET</div>',
    "off screen": '<div style="position:absolute; left:-9999px">SECRET</div>',
    "negative indent": '<p style="text-indent:-10000px">SECRET</p>',
    "clipped": '<span style="position:absolute;clip:rect(0,0,0,0)">SECRET</span>',
    "zero height": '<div style="height:0;overflow:hidden">SECRET</div>',
    "comment": "<!-- SECRET -->",
    "script": "<script>var a = 'SECRET';</script>",
    "template": "<template><p>SECRET</p></template>",
    "nested in hidden": '<div style="display:none"><p><b>SECRET</b></p></div>',
}


def html(body: str) -> bytes:
    return f"<html><body><p>{VISIBLE}</p>{body}<p>After.</p></body></html>".encode()


@pytest.mark.parametrize("body", HIDDEN_HTML.values(), ids=HIDDEN_HTML.keys())
def test_hidden_html_is_dropped_and_the_visible_text_kept(body):
    text = HtmlLoader().load(html(body)).pages[0].text
    assert "SECRET" not in text
    assert VISIBLE in text and "After." in text


SHOWN_HTML = {
    "white on a dark background": '<div style="background:#202020"><p style="color:#fff">SHOWN</p></div>',
    "white on dark bgcolor": '<table bgcolor="#000"><tr><td style="color:white">SHOWN</td></tr></table>',
    "grey text": '<p style="color:#777">SHOWN</p>',
    "small but readable": '<small style="font-size:11px">SHOWN</small>',
    "ordinary positioning": '<div style="position:relative; left:10px">SHOWN</div>',
    "aria-hidden false": '<span aria-hidden="false">SHOWN</span>',
}


@pytest.mark.parametrize("body", SHOWN_HTML.values(), ids=SHOWN_HTML.keys())
def test_visible_styled_html_is_kept(body):
    assert "SHOWN" in HtmlLoader().load(html(body)).pages[0].text


def pdf_with_hidden_text() -> bytes:
    canvas = pytest.importorskip("reportlab.pdfgen.canvas")
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=(595, 842))
    c.setFont("Helvetica", 12)
    c.drawString(72, 750, VISIBLE)
    c.setFillColorRGB(1, 1, 1)
    c.drawString(72, 730, "SECRET white rgb")
    c.setFillColorRGB(0, 0, 0)
    c.setFillGray(0.97)
    c.drawString(72, 720, "SECRET near-white grey")
    c.setFillGray(0)
    c.setFillColorCMYK(0, 0, 0, 0)
    c.drawString(72, 710, "SECRET white cmyk")
    c.setFillColorCMYK(0, 0, 0, 1)
    c.setFont("Helvetica", 1)
    c.drawString(72, 700, "SECRET one point")
    c.setFont("Helvetica", 12)
    c.saveState()
    text = c.beginText(72, 690)
    text.setTextRenderMode(3)
    text.textLine("SECRET invisible mode")
    c.drawText(text)
    c.restoreState()  # the render mode is graphics state: restored here
    c.drawString(-3000, 680, "SECRET off the page")
    c.saveState()
    c.scale(0.05, 0.05)  # 12 pt under a 1/20 scale: 0.6 pt on paper
    c.drawString(1440, 13000, "SECRET scaled down")
    c.restoreState()
    c.setFillColorRGB(0.2, 0.2, 0.2)
    c.drawString(72, 660, "Dark grey text stays.")
    c.save()
    return buffer.getvalue()


def test_invisible_pdf_text_is_dropped_and_the_rest_kept():
    text = PdfLoader().load(pdf_with_hidden_text()).pages[0].text
    assert "SECRET" not in text, text
    assert VISIBLE in text and "Dark grey text stays." in text


def test_a_pdf_without_hidden_text_reads_exactly_as_pypdf_reads_it():
    from pypdf import PdfReader

    from ingest.loaders.base import normalize_text
    from tests.conftest import SAMPLE_DOCS

    data = (SAMPLE_DOCS / "python_sorting_howto.pdf").read_bytes()
    plain = [normalize_text(p.extract_text()) for p in PdfReader(io.BytesIO(data)).pages]
    assert [p.text for p in PdfLoader().load(data).pages] == plain


def test_hidden_html_inside_markdown_is_dropped_and_visible_html_kept():
    source = (
        f'# Kettles\n\n{VISIBLE}\n\n<div style="display:none">\nSECRET one\n</div>\n\n'
        "<span style='color:#fff'>SECRET two</span> and <span hidden>SECRET three</span>\n\n"
        "<details><summary>More</summary>SHOWN inside details</details>\n<!-- SECRET four -->\nAfter.\n"
    )
    text = MarkdownLoader().load(source.encode()).pages[0].text
    assert "SECRET" not in text, text
    assert VISIBLE in text and "SHOWN inside details" in text and "After." in text
