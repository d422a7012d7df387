"""A test loader for a kind askdocs does not index: Word ``.docx``, one module and one registry line.

Registered only by a test (``LOADERS.add("docx", "tests.support.loader_backend:KIND")``), it shows that
a new kind needs nothing else: ``ingest.validate`` recognises it by its magic bytes ahead of the ZIP
refusal, the parse child imports ``DocxLoader`` by the path the parent sends, the refusal messages
and the upload widget list it. It reads the paragraphs of ``word/document.xml`` with the standard
library only; it is a fixture, not a product loader (no tables, headers, footnotes or styles).
"""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

from askdocs.types import ParsedDocument
from ingest.loaders import FileKind
from ingest.loaders.base import BaseLoader, normalize_text, short, single_page
from ingest.validate import RefusedInput

_BODY = "word/document.xml"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MAX_XML_BYTES = 16 * 2**20  # a bound on the inflated XML: a zip bomb is refused, not unpacked


class DocxLoader(BaseLoader):
    """The text of a Word document's body, one paragraph a line, as one page 1."""

    def load(self, data: bytes) -> ParsedDocument:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if archive.getinfo(_BODY).file_size > _MAX_XML_BYTES:
                    raise RefusedInput("unreadable Word document: its text is too large")
                root = ElementTree.fromstring(archive.read(_BODY))
        except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as e:
            raise RefusedInput(f"unreadable Word document: {short(e)}") from None
        lines = ["".join(t.text or "" for t in p.iter(f"{_W}t")) for p in root.iter(f"{_W}p")]
        return single_page(normalize_text("\n".join(lines)), "", "empty Word document: no text")


def _starts_like_docx(data: bytes) -> bool:
    return data.startswith(b"PK\x03\x04") and _BODY.encode() in data


KIND = FileKind(
    name="docx",
    label="Word",
    noun="Word document",
    loader=DocxLoader,
    extensions=(".docx",),
    magic=_starts_like_docx,
)


def make_docx(*paragraphs: str) -> bytes:
    """A minimal real .docx holding ``paragraphs`` (what Word needs to open it, and no more)."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = f'<w:document xmlns:w="{_W[1:-1]}"><w:body>{body}</w:body></w:document>'
    types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr(_BODY, document)
    return out.getvalue()
