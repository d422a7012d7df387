"""Parse untrusted uploads in a child process held to a time and memory limit.

Design choices:

- Checks that need no parser (name, size, magic bytes) run here, in the
  parent; the parse itself runs in ``ingest/_parse_child.py``.
- The child is a fresh interpreter (``subprocess``, ``python -I``), not a
  fork: the app process may hold torch and a large address space, which a
  fork would inherit and which RLIMIT_AS would then count. A fresh process
  per file also means nothing one file did can leak into the next.
- Start-up (interpreter plus pypdf/lxml imports, ~0.2-0.3 s here) is hidden
  by keeping one spare child started ahead of time, idle until it is handed
  a file; each file still gets its own process, which exits after it. With
  the spare warm, a parse costs ~10-15 ms (text, HTML) to ~40-75 ms (PDF)
  more than in-process.
- The upload goes in on stdin; one JSON object comes back on stdout. Nothing
  the child produced is unpickled.
- Every failure becomes ``RefusedInput`` with a reason a user can act on; no
  other exception leaves ``parse_untrusted`` (``KeyboardInterrupt`` and
  friends still do, after the child is killed).
- pypdf has had hang and decompression-bomb CVEs and says guarding against
  them is the caller's job: this module is that guard.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from askdocs.types import Page, ParsedDocument
from ingest.loaders import LOADERS
from ingest.validate import RefusedInput, check_size, detect_kind, sanitize_filename

if TYPE_CHECKING:
    from askdocs.settings import Settings

CHILD_SCRIPT = Path(__file__).resolve().with_name("_parse_child.py")
_MEMORY_HINTS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")
_Child = tuple["subprocess.Popen[bytes]", IO[bytes], int]  # process, its stderr file, the pid that started it
_spare: _Child | None = None
_spare_lock = threading.Lock()


@dataclass(frozen=True)
class ParsedUpload:
    """An upload that passed every check, with its text.

    Example:
        >>> upload = parse_untrusted("../notes.md", b"# Notes\\nhello", load_settings())  # doctest: +SKIP
        >>> upload.safe_name, upload.kind, upload.document.pages[0].text  # doctest: +SKIP
        ('notes.md', 'markdown', '# Notes\\nhello')
    """

    safe_name: str
    kind: str
    size_bytes: int
    document: ParsedDocument


def parse_untrusted(filename: str, data: bytes, settings: Settings) -> ParsedUpload:
    """Validate and parse one upload; raise ``RefusedInput`` (and nothing else) when it cannot be used.

    Args:
        filename: The name the client sent; only sanitised and used to choose between text kinds.
        data: The file's bytes.
        settings: Supplies max_upload_bytes, max_pages, parse_timeout_s and parse_memory_mb.
    """
    try:
        data = bytes(data)
        safe_name = sanitize_filename(filename)
        check_size(data, settings)
        kind = detect_kind(data, safe_name)
        document = parse_in_child(
            kind,
            data,
            timeout_s=settings.parse_timeout_s,
            memory_mb=settings.parse_memory_mb,
            max_pages=settings.max_pages,
        )
    except RefusedInput:
        raise
    except Exception as e:  # a bug of ours must not look like a crash to the user, nor escape
        raise RefusedInput(f"could not process the file: internal error ({type(e).__name__})") from e
    return ParsedUpload(safe_name=safe_name, kind=kind, size_bytes=len(data), document=document)


def parse_in_child(
    kind: str, data: bytes, *, timeout_s: float, memory_mb: int, max_pages: int, loader_ref: str = ""
) -> ParsedDocument:
    """Run the loader for ``kind`` on ``data`` in a child process of its own.

    Args:
        kind: A key of ``ingest.loaders.LOADERS``.
        data: The file's bytes, already checked by ``ingest.validate``.
        timeout_s: Wall-clock limit from hand-over to result (with start-up, if no spare was ready);
            the child is killed past it.
        memory_mb: The child's address-space limit (RLIMIT_AS).
        max_pages: Passed to the PDF loader, which checks it before extracting any text.
        loader_ref: "path/to/file.py:Class" to use instead of the registry (tests only).
    """
    loader = loader_ref or LOADERS.get(kind).loader_path  # the child imports it: see ingest/_parse_child.py
    header = {"loader": loader, "max_pages": max_pages, "memory_mb": memory_mb}
    request = json.dumps(header).encode() + b"\n" + data
    label = LOADERS.get(kind).noun if kind in LOADERS else "file"
    process, stderr, _ = _take_child()
    with stderr:
        try:
            out, _ = process.communicate(input=request, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RefusedInput(f"parsing took longer than {timeout_s:g} s") from None
        finally:
            if process.poll() is None:  # timeout, or KeyboardInterrupt while waiting
                process.kill()
                process.communicate()
        try:
            result = json.loads(out)
        except ValueError:
            stderr.seek(max(0, stderr.seek(0, 2) - 4096))
            raise RefusedInput(_crash_reason(label, process.returncode, stderr.read(), memory_mb)) from None
    return _document_from(result, label, memory_mb)


def warm_up() -> None:
    """Start the spare parse child now (e.g. when the app starts) instead of at the first upload."""
    global _spare
    with _spare_lock:
        if _spare is None or _spare[2] != os.getpid() or _spare[0].poll() is not None:
            _spare = _start_child()


def _start_child() -> _Child:
    stderr = tempfile.TemporaryFile()
    command = [sys.executable, "-I", str(CHILD_SCRIPT)]
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    except BaseException:
        stderr.close()
        raise
    return process, stderr, os.getpid()


def _take_child() -> _Child:
    """The warm spare if it is alive and ours (not inherited through a fork), and a new spare behind it."""
    global _spare
    with _spare_lock:
        child, _spare = _spare, None
        if child is not None and child[2] != os.getpid():
            child = None  # inherited through a fork: the process that started it owns it
        elif child is not None and child[0].poll() is not None:
            child[1].close()  # died while idle (poll() reaped it)
            child = None
        child = child or _start_child()
        _spare = _start_child()
    return child


@atexit.register
def _stop_spare() -> None:
    if _spare is not None and _spare[2] == os.getpid():
        _spare[0].kill()
        _spare[0].wait()
        _spare[1].close()


def _crash_reason(label: str, returncode: int, stderr_tail: bytes, memory_mb: int) -> str:
    tail = stderr_tail.decode("utf-8", "replace")
    if any(hint in tail for hint in _MEMORY_HINTS):
        return f"parsing needed more than {memory_mb} MB of memory"
    if returncode < 0:
        try:
            how = signal.Signals(-returncode).name
        except ValueError:
            how = f"signal {-returncode}"
    else:
        how = f"exit code {returncode}"
    return f"unreadable {label}: the parser crashed ({how})"


def _document_from(result: Any, label: str, memory_mb: int) -> ParsedDocument:
    """Rebuild a ParsedDocument from the child's JSON, trusting none of its shape."""
    if not isinstance(result, dict):
        raise RefusedInput(f"unreadable {label}: the parser returned malformed output")
    if not result.get("ok"):
        if isinstance(result.get("refused"), str):
            raise RefusedInput(result["refused"][:300])
        if result.get("memory"):
            raise RefusedInput(f"parsing needed more than {memory_mb} MB of memory")
        cause = " ".join(str(result.get("error", "unknown error")).split())
        raise RefusedInput(f"unreadable {label}: {cause[:160]}")
    pages = result.get("pages")
    title, paginated = result.get("title", ""), result.get("paginated", False)
    if not (isinstance(pages, list) and isinstance(title, str) and isinstance(paginated, bool)) or not all(
        isinstance(p, list) and len(p) == 2 and type(p[0]) is int and isinstance(p[1], str) for p in pages
    ):
        raise RefusedInput(f"unreadable {label}: the parser returned malformed output")
    return ParsedDocument(pages=tuple(Page(n, text) for n, text in pages), title=title, paginated=paginated)
