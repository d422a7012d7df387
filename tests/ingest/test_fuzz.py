"""Property tests and fuzzing of the untrusted-input path: validate, loaders, chunker.

Every test runs a fixed budget of examples with ``derandomize=True`` (no example database), so CI
sees the same inputs on every run and a failure reproduces locally. ``ASKDOCS_FUZZ_SCALE=20`` runs
twenty times the budget with fresh random inputs instead, for a longer hunt by hand. The contract
checked for the loaders is the parse child's: whatever the bytes, ``load`` returns a well-formed document or
raises ``RefusedInput``; any other exception is a bug. The atheris harness in
``bench/fuzz_loaders.py`` runs coverage-guided over the same targets (see the last test).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askdocs.types import Page, ParsedDocument
from ingest.chunking import TokenChunker
from ingest.loaders import LOADERS, make_loader
from ingest.loaders.base import _CONTROLS, normalize_text
from ingest.validate import (
    MAX_NAME_CHARS,
    RefusedInput,
    decode_html,
    decode_text,
    detect_kind,
    sanitize_filename,
    sanitize_source,
)
from tests.ingest import pdfbytes

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
KINDS = LOADERS.names()


FUZZ_SCALE = float(os.environ.get("ASKDOCS_FUZZ_SCALE", "1"))


def budget(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * FUZZ_SCALE)),
        derandomize=FUZZ_SCALE == 1,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- seeds and mutations ----------------------------------------------------------------------------


def _reportlab_pdf() -> bytes:
    from tests.ingest.conftest import make_pdf

    return make_pdf([["First page, first line.", "Second line."], [], ["Third page (with parens)."]], "T")


SEEDS: dict[str, list[bytes]] = {
    "pdf": [
        _reportlab_pdf(),
        pdfbytes.build(pdfbytes.one_page("plain text stream, page one")),
        pdfbytes.build(pdfbytes.one_page("compressed text stream", flate=True)),
        pdfbytes.build(
            {
                1: pdfbytes.CATALOG,
                2: b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
                3: pdfbytes.page(2, b"[4 0 R 7 0 R]"),
                4: pdfbytes.text_stream("first half"),
                5: pdfbytes.FONT,
                6: pdfbytes.page(2, b"7 0 R"),
                7: pdfbytes.text_stream("shared second half"),
            },
            trailer_extra=b"/Info << /Title (Seed) >> ",
        ),
    ],
    "html": [
        b"<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head><body><h1>Head</h1>"
        b"<p>One <b>two</b><br>three</p><ul><li>a</li><li>b</li></ul><pre>x\n  y</pre>"
        b"<table><tr><td>c1</td><td>c2</td></tr></table><div hidden>h</div>"
        b"<p style='display:none'>n</p><script>s()</script><!-- c --></body></html>",
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><p>caf\xc3\xa9</p></html>',
        '<meta charset="windows-1252"><p>caf\u00e9 \u20ac</p>'.encode("cp1252"),
    ],
    "markdown": [
        b"# Title ##\n\nSome *text* with `code`.\n\n    indented block\n\n"
        b"<!-- hidden -->\n- item\n- item 2\n",
        "\ufeff## Grüße\r\n\r\n\r\n\r\nZeile\tmit\ttabs\u00a0und\u200b Breite\n".encode(),
    ],
    "text": [
        b"Plain text.\n\nSecond paragraph\fwith a form feed.\n",
        "UTF-16 text: na\u00efve caf\u00e9".encode("utf-16"),
        "cp1252 text: na\u00efve caf\u00e9 \u20ac".encode("cp1252"),
    ],
}

# Fragments that mean something to the parsers, so mutations reach past the first syntax check.
TOKENS = {
    "pdf": [
        b" 0 R",
        b"<<",
        b">>",
        b"[",
        b"]",
        b"(",
        b")",
        b"\\",
        b"/Kids",
        b"/Parent",
        b"/Count 999999999",
        b"/Contents",
        b"/Length 0",
        b"/Filter /FlateDecode",
        b"stream\n",
        b"endstream",
        b"obj",
        b"endobj",
        b"xref",
        b"trailer",
        b"startxref",
        b"%%EOF",
        b"-1",
        b"9999999999",
        b"1 0 R",
        b"2 0 R",
        b"3 0 R",
        b"/Encrypt",
        b"Tj",
        b"TJ",
        b"BT",
        b"ET",
        b"Tf",
        b"Td",
        b"\x00",
        b"\xff\xfe",
    ],
    "html": [
        b"<",
        b">",
        b"</",
        b"<p>",
        b"<pre>",
        b"<br>",
        b"<td>",
        b"<script>",
        b"<style>",
        b"<!--",
        b"-->",
        b"<![CDATA[",
        b"]]>",
        b"&amp;",
        b"&#0;",
        b"&#x110000;",
        b"&#xd800;",
        b"<meta charset=utf-16>",
        b"<meta charset=cp1252>",
        b"<meta charset=base64>",
        b"<meta charset=idna>",
        b"<meta charset=utf-7>",
        b" hidden ",
        b" style='display:none' ",
        b"<?xml?>",
        b"\x00",
        b"\ue000",
        "\ue000".encode(),
        "\ue001".encode(),
        b"<title>",
        b"<svg><foreignObject>",
    ],
    "markdown": [
        b"#",
        b"# ",
        b"<!--",
        b"-->",
        b"\t",
        b"\r",
        b"\r\n",
        b"\xef\xbb\xbf",
        b"\x00",
        b"\xff",
        b"`",
    ],
    "text": [b"\r", b"\n\n\n", b"\t", b"\x0c", b"\xe2\x80\xae", b"\xef\xbb\xbf", b"\x00", b"\xff", b"\xc3"],
}


def mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply (operation, position, fragment) edits: 0 insert, 1 overwrite, 2 delete, 3 duplicate, 4 cut."""
    data = bytearray(seed)
    for operation, position, fragment in edits:
        at = position % (len(data) + 1)
        if operation == 0:
            data[at:at] = fragment
        elif operation == 1:
            data[at : at + len(fragment)] = fragment
        elif operation == 2:
            del data[at : at + 1 + len(fragment) * 8]
        elif operation == 3:
            data[at:at] = data[at : at + 1 + len(fragment) * 16]
        else:
            del data[at:]
    return bytes(data)


def mutated(kind: str) -> st.SearchStrategy[bytes]:
    fragment = st.one_of(st.sampled_from(TOKENS[kind]), st.binary(max_size=8))
    edit = st.tuples(st.integers(0, 4), st.integers(0, 2**31), fragment)
    return st.builds(mutate, st.sampled_from(SEEDS[kind]), st.lists(edit, max_size=6))


def check_document(document: ParsedDocument, kind: str) -> None:
    """What the parse child and the chunker rely on from any successful load."""
    assert isinstance(document, ParsedDocument)
    assert document.pages, "a document without pages must be refused instead"
    assert [p.number for p in document.pages] == list(range(1, len(document.pages) + 1))
    assert document.paginated is (kind == "pdf")
    assert any(p.text.strip() for p in document.pages), "a document without text must be refused"
    for p in document.pages:
        assert isinstance(p.text, str) and not _CONTROLS.search(p.text), repr(p.text[:200])
        p.text.encode("utf-8")  # no lone surrogates: the child sends it as UTF-8 JSON
    assert isinstance(document.title, str) and len(document.title) <= 300
    document.title.encode("utf-8")


def load_or_refuse(kind: str, data: bytes) -> ParsedDocument | None:
    try:
        document = make_loader(kind, max_pages=50).load(data)
    except RefusedInput as refused:
        assert refused.reason and isinstance(refused.reason, str)
        return None
    check_document(document, kind)
    return document


# -- loaders ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@budget(300)
@given(data=st.data())
def test_loader_on_mutated_valid_files_returns_a_document_or_refuses(kind: str, data: st.DataObject) -> None:
    load_or_refuse(kind, data.draw(mutated(kind), label="bytes"))


@pytest.mark.parametrize("kind", KINDS)
@budget(200)
@given(data=st.binary(max_size=2048))
def test_loader_on_arbitrary_bytes_returns_a_document_or_refuses(kind: str, data: bytes) -> None:
    load_or_refuse(kind, data)


@pytest.mark.parametrize("kind", ["html", "markdown", "text"])
@budget(200)
@given(text=st.text(max_size=400), encoding=st.sampled_from(["utf-8", "utf-16", "utf-8-sig", "cp1252"]))
def test_loader_on_arbitrary_text_returns_a_document_or_refuses(kind: str, text: str, encoding: str) -> None:
    load_or_refuse(kind, text.encode(encoding, errors="ignore"))


@budget(300)
@given(data=st.one_of(*(mutated(k) for k in KINDS), st.binary(max_size=1024)), name=st.text(max_size=40))
def test_detect_then_load_as_the_sandbox_does(data: bytes, name: str) -> None:
    """The child's whole path: sanitise the name, decide the kind by content, load."""
    safe = sanitize_filename(name)
    try:
        kind = detect_kind(data, safe)
    except RefusedInput:
        return
    assert kind in KINDS
    load_or_refuse(kind, data)


@budget(300)
@given(data=st.binary(max_size=512), final=st.booleans())
def test_decoders_return_text_or_refuse(data: bytes, final: bool) -> None:
    for decode in (lambda d: decode_text(d, final=final), decode_html):
        try:
            assert isinstance(decode(data), str)
        except RefusedInput:
            pass


@budget(300)
@given(text=st.text(max_size=300), keep_indent=st.booleans())
def test_normalize_text_leaves_no_controls_and_is_stable(text: str, keep_indent: bool) -> None:
    once = normalize_text(text, keep_indent=keep_indent)
    assert not _CONTROLS.search(once)
    assert "\n\n\n" not in once and "\r" not in once
    assert normalize_text(once, keep_indent=keep_indent) == once


# -- names -----------------------------------------------------------------------------------------

NAME_PIECES = st.sampled_from(
    [
        "..",
        ".",
        "/",
        "\\",
        "\x00",
        "\u202e",
        "\u0301",
        "\uff0f",
        "\uff3c",
        "\uff0e",
        "\u2024",
        "\u200b",
        "C:",
        "~",
        " ",
        "\t",
        "\n",
        "etc",
        "passwd",
        ".md",
        "a" * 120,
        "\U0001f600",
        "\ufeff",
        "\u2215",
    ]
)
NAMES = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(NAME_PIECES, st.text(max_size=5)), max_size=30).map("".join),
)


def _is_clean_part(part: str) -> bool:
    return (
        bool(part)
        and part not in (".", "..")
        and part == part.strip(" .")
        and "/" not in part
        and "\\" not in part
        and not any(unicodedata.category(ch)[0] == "C" for ch in part)
        and len(part) <= MAX_NAME_CHARS
        and unicodedata.normalize("NFKC", part) == part
    )


@budget(500)
@given(name=NAMES)
def test_sanitize_filename_gives_one_clean_part(name: str) -> None:
    safe = sanitize_filename(name)
    assert _is_clean_part(safe), repr(safe)
    assert sanitize_filename(safe) == safe


@budget(500)
@given(name=NAMES)
def test_sanitize_source_gives_a_clean_relative_key(name: str) -> None:
    source = sanitize_source(name)
    assert not source.startswith("/")
    assert all(_is_clean_part(part) for part in source.split("/")), repr(source)
    assert sanitize_source(source) == source


# -- chunker ---------------------------------------------------------------------------------------


def words(text: str) -> int:
    return len(text.split())


def characters(text: str) -> int:
    return len(text)


PAGE_TEXT = st.one_of(
    st.text(max_size=600),
    st.lists(
        st.one_of(
            st.sampled_from(
                ["\n\n", "\n", ". ", " ", "  ", "\t", "word", "longerword", "x" * 70, "é", "\u3000"]
            ),
            st.text(max_size=12),
        ),
        max_size=120,
    ).map("".join),
)


@st.composite
def documents(draw: st.DrawFn) -> ParsedDocument:
    texts = draw(st.lists(PAGE_TEXT, min_size=1, max_size=6))
    first = draw(st.integers(1, 3))
    return ParsedDocument(pages=tuple(Page(first + i, t) for i, t in enumerate(texts)), paginated=True)


def assert_chunk_invariants(
    document: ParsedDocument, pieces: list, count: Callable[[str], int], limit: int
) -> None:
    """No empty chunk, none over the limit, pages real, and every non-space character in a chunk.

    Coverage: each chunk must be found in the text (spaces aside) starting no earlier than the
    previous chunk did and no later than where the covered text ends, within its own pages.
    Repetitive text can place a chunk at several spots, so every consistent placement is followed.
    """
    numbers = {p.number for p in document.pages}
    stream, owner = [], []
    for p in document.pages:
        kept = re.sub(r"\s+", "", p.text)
        stream.append(kept)
        owner += [p.number] * len(kept)
    whole = "".join(stream)
    placements = {(0, 0)}  # (where the last chunk starts, where covered text ends)
    for piece in pieces:
        assert piece.text and piece.text == piece.text.strip(), f"empty or unstripped chunk {piece!r}"
        assert count(piece.text) <= limit, f"{count(piece.text)} > {limit}: {piece.text[:80]!r}"
        assert piece.page_start in numbers and piece.page_end in numbers
        assert piece.page_start <= piece.page_end
        body = re.sub(r"\s+", "", piece.text)
        following = set()
        for last_start, covered_to in placements:
            at = whole.find(body, last_start, covered_to + len(body))
            while 0 <= at <= covered_to:
                if piece.page_start <= owner[at] and owner[at + len(body) - 1] <= piece.page_end:
                    following.add((at, max(covered_to, at + len(body))))
                at = whole.find(body, at + 1, covered_to + len(body))
        assert following, f"chunk {piece.text[:60]!r} is not where the text it follows ends"
        placements = set(sorted(following)[-200:])
    reached = max(covered_to for _, covered_to in placements)
    assert reached == len(whole), f"text after position {reached} of {len(whole)} is in no chunk"


@budget(300)
@given(document=documents(), size=st.integers(16, 80), overlap_share=st.floats(0, 0.9))
def test_chunker_invariants_counting_words(document: ParsedDocument, size: int, overlap_share: float) -> None:
    chunker = TokenChunker(words, chunk_tokens=size, overlap_tokens=int(size * overlap_share))
    assert_chunk_invariants(document, chunker.split(document), words, size)


@budget(300)
@given(document=documents(), size=st.integers(16, 200), overlap_share=st.floats(0, 0.9))
def test_chunker_invariants_counting_characters(
    document: ParsedDocument, size: int, overlap_share: float
) -> None:
    chunker = TokenChunker(characters, chunk_tokens=size, overlap_tokens=int(size * overlap_share))
    assert_chunk_invariants(document, chunker.split(document), characters, size)


@pytest.mark.integration
@budget(60)
@given(document=documents(), overlap_share=st.floats(0, 0.5))
def test_chunker_invariants_with_the_real_tokenizer(  # noqa: ANN001 - the session's real embedder
    embedder, document: ParsedDocument, overlap_share: float
) -> None:
    """MiniLM's own word pieces, which are not additive the way words are."""
    size = 64
    chunker = TokenChunker(embedder.count_tokens, chunk_tokens=size, overlap_tokens=int(size * overlap_share))
    assert_chunk_invariants(document, chunker.split(document), embedder.count_tokens, size)


# -- atheris ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_atheris_harness_runs_a_fixed_number_of_iterations(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris comes with requirements-dev.txt")
    harness = str(ROOT / "bench" / "fuzz_loaders.py")
    # libFuzzer's RSS limit reads the peak RSS, which Linux carries over fork and exec: started from a
    # pytest process holding the suite's models (~6.7 GB in CI), it reports an OOM at once. Memory is
    # bounded by the harness's own address-space limit instead, as in the parse child.
    command = [sys.executable, harness, "-runs=2000", "-seed=1", "-rss_limit_mb=0", str(tmp_path / "corpus")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert re.search(r"Done 2000 runs", result.stderr), result.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*")), result.stderr[-4000:]
