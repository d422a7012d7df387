"""Checks on an upload before anything parses it: name, size and kind.

Design choices:

- The kind is decided by the bytes, never trusted from the name. The kinds are
  ``ingest.loaders.LOADERS``: a binary kind's magic bytes (PDF: ``%PDF-`` in the
  first 1024 bytes, where readers look for it) decide first; known binary
  signatures (ZIP/OOXML, gzip, images, executables...) are refused with a
  message naming what the file looks like; anything else must decode as text.
  The extension (and HTML's start) only chooses between the text-like kinds.
- Text decoding accepts UTF-8, BOM-marked UTF-8/16/32, and falls back to
  cp1252/latin-1 only when almost no bytes are control characters, so that
  binary junk is refused instead of being indexed as mojibake.
- ``sanitize_filename`` makes a display and key name; it is never a path.
- This module imports only the standard library and the kind registry (it also
  runs in the parse child, where start-up time counts); the loader modules the
  registry names import their parsers (pypdf, lxml) only when they load a file.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import TYPE_CHECKING

from ingest.loaders import FileKind, file_kinds, supported_kinds

if TYPE_CHECKING:
    from askdocs.settings import Settings

MAX_NAME_CHARS = 200
MAX_SOURCE_CHARS = 1024
SNIFF_BYTES = 64 * 1024

# Leading bytes of formats people upload by mistake. Each is either non-ASCII
# or contains NUL, so no real text file starts with it (RTF is the exception,
# refused because its markup would be indexed as words).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document"),
    (b"{\\rtf", "an RTF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x7fELF", "an executable"),
    (b"\xca\xfe\xba\xbe", "an executable"),
    (b"\x00asm", "a WebAssembly module"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (  # UTF-32 first: its LE BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\v\f\r\x1b") + b"\x7f"
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_NOT_WEB_ENCODINGS = frozenset(
    {"utf-7", "unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"}
)
_ASCII_PROBE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_HTML5_ALIASES = {"latin-1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252"}  # as browsers decode them


class RefusedInput(Exception):
    """An upload we will not index, with a short reason fit to show the user.

    Example:
        >>> try:
        ...     check_size(b"", None)
        ... except RefusedInput as e:
        ...     print(e.reason)
        empty file
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sanitize_source(relative_path: str) -> str:
    r"""A document key for a file found under a folder: each part sanitised, "." and ".." dropped.

    Keeps sub-folders apart, so ``a/notes.md`` and ``b/notes.md`` stay two documents. Parts left
    empty by sanitising are dropped too; past ``MAX_SOURCE_CHARS`` the leading folders are.

    Example:
        >>> sanitize_source("guides/../intro\\notes.md")
        'guides/intro/notes.md'
    """
    parts = unicodedata.normalize("NFKC", str(relative_path)).replace("\\", "/").split("/")
    kept = [part for part in map(_clean_part, parts) if part]
    start, length = 0, sum(len(part) + 1 for part in kept) - 1
    while length > MAX_SOURCE_CHARS and start < len(kept) - 1:
        length -= len(kept[start]) + 1  # the file's own name and nearest folders say the most
        start += 1
    return "/".join(kept[start:]) or "document"


def sanitize_filename(name: str) -> str:
    """A safe display/key name: last path part, NFKC, no controls, bounded length, never empty."""
    name = unicodedata.normalize("NFKC", str(name))  # fullwidth "／" becomes "/" before the split
    return _clean_part(name.replace("\\", "/").rsplit("/", 1)[-1]) or "document"


def _clean_part(name: str) -> str:
    """One path part made safe to show and key on, or "" when nothing is left (".", "..", controls)."""
    # Whitespace becomes a space; other controls and invisible format characters
    # (NUL, bidi overrides, zero-width...) are dropped.
    kept = (ch for ch in name if ch.isspace() or unicodedata.category(ch)[0] != "C")
    name = "".join(" " if ch.isspace() else ch for ch in kept)
    # Again: a dropped character may have stood between a letter and its combining mark.
    name = unicodedata.normalize("NFKC", name)
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 16:
            name = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name


def check_size(data: bytes, settings: Settings | None) -> None:
    """Refuse empty uploads and ones over ``settings.max_upload_bytes``."""
    if not data:
        raise RefusedInput("empty file")
    if settings is not None and len(data) > settings.max_upload_bytes:
        size_mb = len(data) / 2**20
        raise RefusedInput(f"too large: {size_mb:.1f} MB, the limit is {settings.max_upload_mb:g} MB")


def decode_text(data: bytes, *, final: bool = True) -> str:
    """Decode bytes that should be text; refuse what looks like binary.

    Args:
        data: The bytes (the whole file, or a prefix when ``final`` is False).
        final: False when ``data`` may end inside a multi-byte character.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return codecs.getincrementaldecoder(encoding)().decode(data, final=final)
            except UnicodeDecodeError:
                raise RefusedInput(f"not a supported file type (invalid {encoding.upper()} text)") from None
    if b"\x00" in data:
        raise RefusedInput(f"not a supported file type (looks like binary data); {_supported()}")
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        pass
    if len(data) - len(data.translate(None, _CONTROL_BYTES)) > max(2, len(data) // 1000):
        raise RefusedInput(f"not a supported file type (looks like binary data); {_supported()}")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_html(data: bytes) -> str:
    """HTML bytes to text: a BOM, else ``<meta charset>``, else as ``decode_text``; no XML declaration."""
    declared = _META_CHARSET.search(data[:4096])
    encoding = ""
    if declared and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = _web_encoding(declared.group(1))
    try:
        text = data.decode(encoding, errors="replace") if encoding else decode_text(data)
    except (UnicodeError, LookupError):  # a codec that refuses "replace" (none known after the checks)
        text = decode_text(data)
    return _XML_DECLARATION.sub("", text, count=1)


def _web_encoding(label: bytes) -> str:
    """The codec a ``<meta charset>`` label names, or "" when a browser would not decode with it.

    The ``<meta>`` was found as ASCII bytes, so only ASCII-compatible encodings can be meant (as
    in HTML's prescan: "utf-16" there means UTF-8, which ``decode_text`` tries first). Python's
    own codecs (base64, rot13, zlib, unicode_escape, idna...) are not web encodings at all, and
    browsers refuse UTF-7.
    """
    try:
        info = codecs.lookup(label.decode("ascii"))
    except LookupError:
        return ""
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_WEB_ENCODINGS:
        return ""
    try:
        if _ASCII_PROBE.decode(info.name) != _ASCII_PROBE.decode("ascii"):
            return ""
    except (UnicodeError, LookupError):
        return ""
    return _HTML5_ALIASES.get(info.name, info.name)


def detect_kind(data: bytes, filename: str) -> str:
    """The kind of ``data`` (a key of ``ingest.loaders.LOADERS``), by content; refuse anything else."""
    if not data:
        raise RefusedInput("empty file")
    kinds = file_kinds()
    binary = [kind for kind in kinds if kind.magic is not None]
    for kind in binary:
        if kind.magic is not None and kind.magic(data):
            return kind.name
    for signature, looks_like in _SIGNATURES:
        if data.startswith(signature):
            raise RefusedInput(f"not a supported file type (looks like {looks_like}); {_supported()}")
    lower = filename.lower()
    for kind in binary:
        extension = _extension(lower, kind)
        if extension:
            named = f"the file is named {extension} but does not start like one"
            raise RefusedInput(f"not a {kind.noun}: {named}")
    head = decode_text(data[:SNIFF_BYTES], final=len(data) <= SNIFF_BYTES)
    text = [kind for kind in kinds if kind.magic is None]
    for kind in text:
        if (kind.looks_like is not None and kind.looks_like(head)) or _extension(lower, kind):
            return kind.name
    return next(kind.name for kind in text if kind.any_text)


def _extension(lower_name: str, kind: FileKind) -> str:
    """The extension of ``kind`` that ``lower_name`` ends with, or ""."""
    return next((extension for extension in kind.extensions if lower_name.endswith(extension)), "")


def _supported() -> str:
    return f"upload a {supported_kinds()} file"
