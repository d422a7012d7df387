"""Coverage-guided fuzzing of the upload path with atheris (libFuzzer): validate, loaders, chunker.

    python bench/fuzz_loaders.py -runs=2000 -seed=1 -rss_limit_mb=0 CORPUS_DIR   # as CI runs it (test_fuzz.py)
    python bench/fuzz_loaders.py -max_total_time=600             # a longer session, in bench/out/
    python bench/fuzz_loaders.py crash-<sha1>                    # replay one input

The first byte of an input picks the target, the rest is the file:

- 0-3: the parse child's whole path: ``sanitize_filename``, ``detect_kind`` on a name chosen by the
  byte, then that kind's loader, then the chunker on what it returned;
- 4-7: one loader directly (pdf, html, markdown, text), then the chunker;
- 8: ``sanitize_filename`` and ``sanitize_source`` on the bytes read as UTF-8.

The contract is the one the parse child relies on: a loader returns a well-formed document or
raises ``RefusedInput``; nothing else may escape. Like the parse child, the harness runs under an
address-space limit (``ASKDOCS_PARSE_MEMORY_MB``'s default): an input that needs more is what the app
refuses as "too much memory", so a ``MemoryError`` counts as refused. Without the limit, one small
malformed PDF can make pypdf reach gigabytes for a moment and libFuzzer stop on its RSS limit.
libFuzzer saves an input that breaks it as ``crash-<sha1>`` in the working directory. The corpus
directory (``bench/out/fuzz-corpus`` when none is named) is first seeded with small valid files of
each kind, so mutation starts from real structure instead of from nothing; libFuzzer adds the inputs
that reach new code to it. pypdf and the ingest package are instrumented; lxml is C and is not.
"""

from __future__ import annotations

import logging
import resource
import sys
import unicodedata
import warnings
import zlib
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["ingest", "pypdf"]):
    import pypdf  # noqa: F401 - instrumented here, imported lazily by the PDF loader

    from askdocs.types import ParsedDocument
    from ingest.chunking import TokenChunker
    from ingest.loaders import file_kinds, make_loader
    from ingest.loaders.base import _CONTROLS
    from ingest.validate import RefusedInput, detect_kind, sanitize_filename, sanitize_source

    file_kinds()  # imports every loader module now, while imports are instrumented (the registry is lazy)

KINDS = ("pdf", "html", "markdown", "text")
NAMES = ("upload.pdf", "notes.md", "page.html", "a.txt")
CHUNK_TOKENS = 24


def _words(text: str) -> int:
    return len(text.split())


CHUNKER = TokenChunker(_words, chunk_tokens=CHUNK_TOKENS, overlap_tokens=4)


def _raw_pdf(text: bytes, *, flate: bool) -> bytes:
    content = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    body = zlib.compress(content) if flate else content
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d %s>>\nstream\n" % (len(body), b"/Filter /FlateDecode " if flate else b"")
        + body
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body_ in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body_ + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, start)
    return bytes(out)


# (target byte, name, file): the corpus starts from these.
SEEDS = [
    (0, "detect-pdf", _raw_pdf(b"detected as a pdf", flate=False)),
    (4, "pdf", _raw_pdf(b"hello (nested) text", flate=False)),
    (4, "pdf-flate", _raw_pdf(b"compressed page text", flate=True)),
    (
        5,
        "html",
        b"<!DOCTYPE html><html><head><title>T</title></head><body><h1>H</h1><p>a <b>b</b><br>c</p>"
        b"<ul><li>x</li></ul><pre>p\n q</pre><table><tr><td>1</td><td>2</td></tr></table>"
        b"<div hidden>h</div><script>s()</script></body></html>",
    ),
    (6, "markdown", b"# Title\n\nSome *text* with `code`.\n\n    block\n<!-- c -->\n- item\n"),
    (7, "text", "Plain text, caf\u00e9.\n\nSecond paragraph.\n".encode()),
    (7, "text-utf16", "UTF-16 text".encode("utf-16")),
    (8, "name", "../../etc/passwd/\u202eevil\uff0f..\\name.md".encode()),
]


def _check(document: ParsedDocument) -> None:
    numbers = [p.number for p in document.pages]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert any(p.text.strip() for p in document.pages), "a document without text was not refused"
    for p in document.pages:
        assert not _CONTROLS.search(p.text), repr(p.text[:100])
        p.text.encode("utf-8")
    assert len(document.title) <= 300
    for piece in CHUNKER.split(document):
        assert piece.text and _words(piece.text) <= CHUNK_TOKENS, piece
        assert piece.page_start in numbers and piece.page_end in numbers, piece


def _clean(part: str) -> bool:
    return (
        bool(part)
        and part not in (".", "..")
        and "/" not in part
        and "\\" not in part
        and not any(unicodedata.category(ch)[0] == "C" for ch in part)
    )


def test_one_input(data: bytes) -> None:
    if not data:
        return
    target, body = data[0] % 9, data[1:]
    if target == 8:
        text = body.decode("utf-8", "replace")
        assert _clean(sanitize_filename(text))
        assert all(_clean(part) for part in sanitize_source(text).split("/"))
        return
    try:
        if target < 4:
            kind = detect_kind(body, sanitize_filename(NAMES[target]))
        else:
            kind = KINDS[target - 4]
        document = make_loader(kind, max_pages=50).load(body)
    except (RefusedInput, MemoryError):  # MemoryError: the parse child refuses it (see the docstring)
        return
    _check(document)


def _limit_memory() -> None:
    from askdocs.settings import Settings

    limit = Settings.model_fields["parse_memory_mb"].default * 2**20
    # The interpreter, atheris and the instrumented imports already hold address space: add theirs.
    with open("/proc/self/status") as status:
        used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (used + limit, hard))


def main() -> None:
    _limit_memory()
    logging.disable(logging.CRITICAL)  # pypdf logs every repair it makes: noise at thousands of runs
    warnings.simplefilter("ignore")
    args = list(sys.argv)
    paths = [Path(a) for a in args[1:] if not a.startswith("-")]
    if not any(p.is_file() for p in paths):  # fuzzing, not replaying
        corpus = paths[0] if paths else Path(__file__).resolve().parent / "out" / "fuzz-corpus"
        if not paths:
            args.append(str(corpus))
        corpus.mkdir(parents=True, exist_ok=True)
        for target, name, body in SEEDS:
            (corpus / f"seed-{name}").write_bytes(bytes([target]) + body)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
