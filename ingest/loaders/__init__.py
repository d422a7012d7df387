"""Loaders: bytes of one kind in, visible text page by page out; and the one list of file kinds.

Design choices:

- One ``Loader`` protocol with one method; each kind is one module here holding a small loader
  class and a ``FileKind`` that describes the kind: its extensions, how its bytes are recognised,
  the words users see. ``LOADERS`` (kind -> that ``FileKind``) is the only list of kinds: upload
  validation (``ingest.validate.detect_kind``), the sandbox's messages, the upload widget and the
  REST API read it, so a new kind is one new module plus one line below.
- Entries are "module:KIND" paths imported on first use. This package imports only the registry,
  so ``ingest.validate`` (run in the parent on every upload) can read it without loading any
  parser, and the loader modules import pypdf and lxml lazily, inside ``load``.
- Loaders assume nothing about their input: they run on untrusted bytes inside the parse child
  (see ``ingest.sandbox``) and turn every failure they can name into ``RefusedInput``; MemoryError
  is left to the child to report. The parent hands the child the loader class by its import path
  (``FileKind.loader_path``), so a kind registered only in the parent (a test) parses there too.
- PDF pages keep their real 1-based numbers, empty ones included, so citations point at the page a
  reader would turn to. Other kinds are one page 1.

Example:
    >>> make_loader("markdown").load(b"# Notes\\n\\nhello").title
    'Notes'
    >>> supported_kinds()
    'PDF, HTML, Markdown or plain-text'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from askdocs.registry import Registry

if TYPE_CHECKING:
    from askdocs.types import ParsedDocument


class Loader(Protocol):
    """Turns the bytes of one file kind into a ``ParsedDocument``; refuses with ``RefusedInput``."""

    def load(self, data: bytes) -> ParsedDocument: ...


@dataclass(frozen=True)
class FileKind:
    """One kind of file askdocs indexes: what recognises it, what loads it, what users are told.

    ``ingest.validate.detect_kind`` tries the kinds with ``magic`` first (on the raw bytes, before
    the known binary formats are refused), then the text kinds in registry order by ``looks_like``
    on the decoded start or by extension, and last the ``any_text`` kind.
    """

    name: str  # the registry key; stored as DocumentRecord.kind
    label: str  # in the list users read: "upload a PDF, HTML, Markdown or plain-text file"
    noun: str  # one such file in a message: "unreadable HTML file: ..."
    loader: Callable[..., Loader]  # a class importable by its path, called with max_pages=
    extensions: tuple[str, ...] = ()  # lower case, with the dot
    magic: Callable[[bytes], bool] | None = None  # a binary kind: true when the bytes start like one
    looks_like: Callable[[str], bool] | None = None  # a text kind recognised by its first 64 KiB too
    any_text: bool = False  # takes whatever decodes as text and no other kind claims (plain text)
    preload: tuple[str, ...] = ()  # modules the loader imports lazily: a spare parse child imports them

    @property
    def loader_path(self) -> str:
        """ "module:Class": how the parse child imports this kind's loader."""
        return f"{self.loader.__module__}:{self.loader.__qualname__}"


LOADERS: Registry[FileKind] = Registry(
    "file kind",
    {
        "pdf": "ingest.loaders.pdf:KIND",
        "html": "ingest.loaders.html:KIND",
        "markdown": "ingest.loaders.markdown:KIND",
        "text": "ingest.loaders.text:KIND",
    },
)


def file_kinds() -> tuple[FileKind, ...]:
    """Every registered kind, in registry order (the order ``detect_kind`` tries them in)."""
    return tuple(LOADERS.get(name) for name in LOADERS)


def supported_kinds() -> str:
    """The kinds as users read them: "PDF, HTML, Markdown or plain-text"."""
    labels = [kind.label for kind in file_kinds()]
    return " or ".join(filter(None, (", ".join(labels[:-1]), labels[-1])))


def make_loader(kind: str, *, max_pages: int = 2000) -> Loader:
    """The loader for ``kind`` (a key of ``LOADERS``); only kinds with pages of their own use ``max_pages``.

    Raises:
        ValueError: ``kind`` is not registered.
    """
    if kind not in LOADERS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(LOADERS)}")
    return LOADERS.get(kind).loader(max_pages=max_pages)
