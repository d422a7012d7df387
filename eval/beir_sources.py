"""Where a BEIR dataset's files come from: a folder, a zip file, or a zip's bytes.

:func:`open_tree` gives a :class:`Tree`, the dataset's root with paths
relative to it, and :func:`read_lines` the numbered text lines of one of its
files; ``eval.beir`` parses those lines and never sees a folder or an archive.

Design choices:

- **A zip is never extracted.** Members are streamed from the archive in
  memory; a member name that is absolute or has a ``..`` part refuses the whole
  archive; the bytes read may not pass ``max_bytes`` (declared sizes are checked
  first, actual bytes as they are read, so a lying header gains nothing). A
  local folder has no cap: it is trusted as much as any local file.
- **Where the data is.** The files sit at the top of the folder or zip, or in
  its single sub-folder, as BEIR's own zips have them (``scifact/corpus.jsonl``);
  macOS ``__MACOSX/`` entries are ignored. The dataset is named after that
  sub-folder, else the folder or the zip file.
- ``name.gz`` is read when ``name`` is absent (:func:`resolve`), as the
  Hugging Face copies ship ``corpus.jsonl.gz``. A missing file, a corrupt zip
  or gzip, text that is not UTF-8 and a refused archive raise
  :class:`BeirFormatError` naming the file (``archive.zip:inner/path`` for a
  zip member). It is defined here, the lowest layer, and re-exported by
  ``eval.beir``.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, Protocol, cast

MAX_LINE_BYTES = 16 * 1024**2  # one JSONL record; real BEIR passages are a few KB
MAX_BYTES = 2 * 1024**3  # uncompressed bytes read from one zip
Source = str | os.PathLike[str] | bytes | BinaryIO

_DATA_FILES = ("corpus.jsonl", "corpus.jsonl.gz")


class BeirFormatError(ValueError):
    """A dataset that does not follow the BEIR format; ``file`` and ``line`` say where."""

    def __init__(self, file: str, problem: str, line: int | None = None) -> None:
        self.file, self.problem, self.line = file, problem, line
        super().__init__(f"{file}, line {line}: {problem}" if line else f"{file}: {problem}")

    def __reduce__(self):
        return type(self), (self.file, self.problem, self.line)


class Tree(Protocol):
    """The dataset's root, in a folder or a zip; paths are relative and use ``/``."""

    name: str

    def where(self, path: str) -> str: ...
    def names(self, folder: str) -> list[str]: ...
    def open(self, path: str) -> IO[bytes]: ...
    def spend(self, path: str, n: int) -> None: ...


def resolve(tree: Tree, path: str) -> str:
    """``path``, or ``path.gz`` when only that exists."""
    folder, _, base = path.rpartition("/")
    present = tree.names(folder)
    if base in present:
        return path
    if base + ".gz" in present:
        return path + ".gz"
    raise BeirFormatError(tree.where(path), "missing")


def read_lines(tree: Tree, path: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a UTF-8 file, with their 1-based numbers.

    Lines are read with a length cap, so a gzip member that inflates to one huge line is refused
    after ``MAX_LINE_BYTES`` rather than held in memory whole before the byte budget sees it.
    """
    with tree.open(path) as raw:
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw)) if path.endswith(".gz") else raw
        try:
            number = 0
            while data := stream.readline(MAX_LINE_BYTES + 1):
                number += 1
                tree.spend(path, len(data))
                if len(data) > MAX_LINE_BYTES:
                    raise BeirFormatError(
                        tree.where(path), f"a line longer than {MAX_LINE_BYTES} bytes", number
                    )
                try:
                    line = data.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise BeirFormatError(tree.where(path), "not UTF-8 text", number) from None
                if line.strip():
                    yield number, line.rstrip("\r\n")
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:  # a corrupt gzip or zip member
            raise BeirFormatError(tree.where(path), f"cannot be read: {e}") from None


@contextmanager
def open_tree(source: Source, max_bytes: int) -> Iterator[Tree]:
    """The dataset's root in a folder, or in a zip given by its path, bytes or file object."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            yield _folder_root(path)
            return
        if not path.is_file():
            raise BeirFormatError(str(path), "no such folder or file")
        stream: str | IO[bytes] = str(path)
        label = path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        stream, label = io.BytesIO(bytes(source)), "uploaded zip"
    else:
        stream = source if source.seekable() else io.BytesIO(source.read())
        label = PurePosixPath(str(getattr(source, "name", "") or "uploaded zip")).name
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError):
        raise BeirFormatError(label, "neither a folder nor a zip file") from None
    with archive:
        yield _ZipTree(archive, label, max_bytes)


class _FolderTree:
    def __init__(self, root: Path) -> None:
        self.root, self.name = root, root.name

    def where(self, path: str) -> str:
        return str(self.root / path)

    def names(self, folder: str) -> list[str]:
        target = self.root / folder
        return sorted(p.name for p in target.iterdir() if p.is_file()) if target.is_dir() else []

    def open(self, path: str) -> IO[bytes]:
        return open(self.root / path, "rb")

    def spend(self, path: str, n: int) -> None:
        pass  # a local folder is trusted as much as any local file


class _ZipTree:
    def __init__(self, archive: zipfile.ZipFile, label: str, max_bytes: int) -> None:
        self.archive, self.label, self.max_bytes, self.read = archive, label, max_bytes, 0
        members = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        for info in archive.infolist():
            parts = info.filename.replace("\\", "/").split("/")
            if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                raise BeirFormatError(label, f"refused: unsafe member name {info.filename!r}")
        roots = sorted(
            m.filename[: -len(base)]
            for m in members
            for base in _DATA_FILES
            if m.filename == base or (m.filename.endswith("/" + base) and m.filename.count("/") == 1)
        )
        if len(roots) != 1:
            raise BeirFormatError(label, _where_corpus_is([r.rstrip("/") or "(top)" for r in roots]))
        self.prefix = roots[0]
        self.name = self.prefix.rstrip("/") or PurePosixPath(label).stem
        start = len(self.prefix)
        self.members = {m.filename[start:]: m for m in members if m.filename.startswith(self.prefix)}
        declared = sum(m.file_size for m in self.members.values())
        if declared > max_bytes:
            raise BeirFormatError(label, f"refused: {declared} bytes uncompressed, limit {max_bytes}")

    def where(self, path: str) -> str:
        return f"{self.label}:{self.prefix}{path}"

    def names(self, folder: str) -> list[str]:
        start = f"{folder}/" if folder else ""
        inside = (p[len(start) :] for p in self.members if p.startswith(start))
        return sorted(p for p in inside if "/" not in p)

    def open(self, path: str) -> IO[bytes]:
        try:
            return self.archive.open(self.members[path])
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile) as e:  # encrypted, odd compression
            raise BeirFormatError(self.where(path), f"cannot be read: {e}") from None

    def spend(self, path: str, n: int) -> None:
        self.read += n
        if self.read > self.max_bytes:
            raise BeirFormatError(self.where(path), f"refused: over {self.max_bytes} bytes uncompressed")


def _folder_root(path: Path) -> _FolderTree:
    if any((path / base).is_file() for base in _DATA_FILES):
        return _FolderTree(path)
    inner = [d for d in sorted(path.iterdir()) if d.is_dir() and any((d / b).is_file() for b in _DATA_FILES)]
    if len(inner) != 1:
        raise BeirFormatError(str(path), _where_corpus_is([d.name for d in inner]))
    return _FolderTree(inner[0])


def _where_corpus_is(folders: list[str]) -> str:
    if not folders:
        return "no corpus.jsonl here or in a single folder inside"
    return f"corpus.jsonl is in several folders ({', '.join(folders)}); give one of them"
