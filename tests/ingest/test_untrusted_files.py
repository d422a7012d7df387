"""Hostile uploads end to end: limits, kind by content, names, the parse child's limits, broken PDFs.

Each file here is built in the test (reportlab, or by hand in ``pdfbytes`` where a writer would
refuse to produce it). Where it matters that the real child process does the work, the test goes
through ``parse_untrusted`` or ``parse_in_child``, not the loader in-process.
"""

from __future__ import annotations

import io
import resource
import time
import tomllib
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader, PdfWriter

from askdocs.settings import Settings, load_settings
from askdocs.types import ParsedDocument
from ingest import sandbox
from ingest.jobs import IngestionQueue
from ingest.loaders.pdf import PdfLoader
from ingest.pipeline import Ingestor
from ingest.sandbox import parse_in_child, parse_untrusted
from ingest.validate import RefusedInput, detect_kind, sanitize_filename, sanitize_source
from tests.ingest import pdfbytes

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings() -> Settings:
    return load_settings(parse_timeout_s=60, parse_memory_mb=1024, max_pages=50, max_upload_mb=2)


def assert_still_works(settings: Settings) -> None:
    """After a refusal the app process is unharmed: the next upload parses, in a fresh child."""
    upload = parse_untrusted("after.md", b"# After\n\nStill working.", settings)
    assert upload.document.pages[0].text == "# After\n\nStill working."


# -- limits ----------------------------------------------------------------------------------------


def test_streamlit_upload_limit_is_the_settings_default() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == Settings.model_fields["max_upload_mb"].default


class NoStore:
    """Just enough store for ``Ingestor.ingest_bytes`` to reach the parse step."""

    def document(self, collection: str, doc_id: str) -> None:
        return None

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"a refused upload reached the store ({name})")


class WordEmbedder:
    """A deterministic stand-in embedder: hashed words, 8 dimensions, no model."""

    spec, dimension, max_tokens = "test:words", 8, 512

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                vectors[row, hash(word) % self.dimension] += 1.0
            vectors[row] /= max(1.0, float(np.linalg.norm(vectors[row])))
            vectors[row, 0] += 1e-3  # never all zeros
        return vectors


def test_upload_entry_refuses_oversize_before_parsing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The byte limit is enforced in code at the app's entry (the job queue), whatever Streamlit let in."""
    monkeypatch.setattr(sandbox, "parse_in_child", lambda *a, **k: pytest.fail("the parse child was started"))
    ingestor = Ingestor(NoStore(), WordEmbedder(), None, settings)  # type: ignore[arg-type]
    over = b"a" * (settings.max_upload_bytes + 1)
    outcome = ingestor.ingest_bytes("big.txt", over, "default")
    assert (outcome.status, outcome.detail) == ("refused", "too large: 2.0 MB, the limit is 2 MB")

    class Queued:  # the queue's own BM25 step is not what this test is about
        def __init__(self) -> None:
            self.inner = ingestor

        def ingest_bytes(self, name: str, data: bytes, collection: str):  # noqa: ANN201
            return self.inner.ingest_bytes(name, data, collection)

        def sync_bm25(self, collection: str) -> None:
            pass

        rebuild_bm25 = sync_bm25

    queue = IngestionQueue(Queued())
    job = queue.wait(queue.submit([("big.txt", over)], "default"), timeout=30)
    [file] = job.files
    assert file.outcome is not None and file.outcome.status == "refused"
    assert file.outcome.detail.startswith("too large")


def test_upload_at_the_limit_is_parsed(settings: Settings) -> None:
    data = (b"word " * (settings.max_upload_bytes // 5 + 1))[: settings.max_upload_bytes]
    assert len(data) == settings.max_upload_bytes
    assert parse_untrusted("exact.txt", data, settings).size_bytes == settings.max_upload_bytes


def test_folder_ingestion_refuses_oversize_by_size_without_reading(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.md"
    with big.open("wb") as f:
        f.truncate(settings.max_upload_bytes + 1)  # sparse: no need to write it
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("an oversize file was read"))
    ingestor = Ingestor(NoStore(), WordEmbedder(), None, settings)  # type: ignore[arg-type]
    [outcome] = ingestor.ingest_many([("big.md", big)], "default")
    assert outcome.status == "refused" and outcome.detail.startswith("too large: 2.0 MB")


def test_page_limit_counts_real_pages_not_the_declared_count() -> None:
    many = 60
    objects = {
        1: pdfbytes.CATALOG,
        2: b"<< /Type /Pages /Kids [%s] /Count 1 >>" % b" ".join(b"%d 0 R" % (10 + i) for i in range(many)),
        4: pdfbytes.text_stream("the same text on every page"),
        5: pdfbytes.FONT,
    }
    objects.update({10 + i: pdfbytes.page(2, b"4 0 R") for i in range(many)})
    with pytest.raises(RefusedInput, match=r"^too many pages: 60, the limit is 50$"):
        parse_untrusted("lying.pdf", pdfbytes.build(objects), load_settings(max_pages=50))


# -- kind by content -------------------------------------------------------------------------------


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>hello</w:document>")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["report.pdf", "notes.txt", "page.html", "readme.md", "noextension"])
def test_zip_is_refused_whatever_its_name(name: str, settings: Settings) -> None:
    with pytest.raises(RefusedInput, match=r"^not a supported file type \(looks like a ZIP archive\)"):
        parse_untrusted(name, _docx(), settings)


@pytest.mark.parametrize("name", ["paper.txt", "paper.md", "paper.html", "paper", "paper.exe"])
def test_a_pdf_is_parsed_as_pdf_whatever_its_name(
    name: str, pdf_3pages: bytes, page_text: dict[int, str], settings: Settings
) -> None:
    upload = parse_untrusted(name, pdf_3pages, settings)
    assert upload.kind == "pdf"
    assert [p.text for p in upload.document.pages] == [page_text[n] for n in (1, 2, 3)]


HTML = (
    b"<!DOCTYPE html><html><head><title>T</title><script>var leaked = 'SCRIPT_TEXT';</script></head>"
    b"<body><p>visible words</p><div style='display:none'>HIDDEN_TEXT</div></body></html>"
)


@pytest.mark.parametrize("name", ["page.md", "page.txt", "page", "page.markdown"])
def test_html_is_parsed_as_html_whatever_its_name(name: str, settings: Settings) -> None:
    upload = parse_untrusted(name, HTML, settings)
    assert upload.kind == "html"
    assert upload.document.pages[0].text == "visible words"


def test_html_named_pdf_is_refused(settings: Settings) -> None:
    with pytest.raises(RefusedInput, match="^not a PDF"):
        parse_untrusted("page.pdf", HTML, settings)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(range(256)) * 8, "binary data"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
        (b"\x7fELF\x02\x01\x01" + bytes(64), "an executable"),
        (b"MZ\x90\x00" + bytes(60), "binary data"),  # a Windows executable: NULs give it away
        (b"SQLite format 3\x00" + bytes(64), "an SQLite database"),
        (np.random.default_rng(0).bytes(4096), "binary data"),
    ],
)
@pytest.mark.parametrize("name", ["notes.txt", "notes.md"])
def test_binary_junk_named_as_text_is_refused(
    data: bytes, reason: str, name: str, settings: Settings
) -> None:
    with pytest.raises(RefusedInput, match=reason):
        parse_untrusted(name, data, settings)


def test_kind_ignores_what_the_name_claims() -> None:
    assert detect_kind(b"# heading only", "x.html") == "html"  # the name may pick among text kinds
    assert detect_kind(b"%PDF-1.7\n...", "x.md") == "pdf"  # ...never turn bytes into another format


# -- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/etc/passwd", "passwd"),
        ("/", "document"),
        ("...", "document"),
        (". . .", "document"),
        ("\x00", "document"),
        ("\x00\x00.md", "md"),
        ("..\x00/..\x00/x.md", "x.md"),
        ("．．／．．／etc／passwd", "passwd"),  # fullwidth dots and slashes
        ("..\uff3c..\uff3cboot.ini", "boot.ini"),  # fullwidth backslash
        ("cafe\u0301.md", "café.md"),  # combining mark composed
        ("a\x1b\u0300.txt", "à.txt"),  # composed after the control between them is dropped
        ("\u0301\u0301.md", "\u0301\u0301.md"),  # lone combining marks are harmless text
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override dropped
        ("\u202e", "document"),
        ("\ufeffbom.md", "bom.md"),
        ("e\u0301\u200d\u200c.md", "é.md"),
        ("line\nbreak\r.md", "line break .md"),
        ("C:", "C:"),
        ("\U0001f600.md", "\U0001f600.md"),
    ],
)
def test_hostile_names_are_sanitised(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/etc/passwd", "etc/passwd"),
        ("../../../../etc/passwd", "etc/passwd"),
        ("a/./b/../c.md", "a/b/c.md"),
        ("．．／secret.md", "secret.md"),
        ("\x00/\u202e/", "document"),
        ("a/\u202e/b.md", "a/b.md"),
        ("a/ /b.md", "a/b.md"),
        ("a/..\u200b/b.md", "a/b.md"),
    ],
)
def test_hostile_relative_paths_become_clean_keys(raw: str, expected: str) -> None:
    assert sanitize_source(raw) == expected


def test_very_long_names_are_bounded() -> None:
    assert len(sanitize_filename("é" * 5000 + ".pdf")) == 200
    assert sanitize_filename("é" * 5000 + ".pdf").endswith("é.pdf")
    assert len(sanitize_filename("\U0001f600" * 5000)) == 200
    assert len(sanitize_source("/".join(["folder"] * 10_000) + "/x.md")) <= 1024
    assert sanitize_source("/".join(["folder"] * 10_000) + "/x.md").endswith("folder/x.md")
    assert len(sanitize_source(("x" * 300 + "/") * 50)) <= 1024


def snapshot(root: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.integration
def test_uploads_never_create_files_outside_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.bm25 import BM25Directory
    from retrieval.stores import store_from_settings

    settings = load_settings(data_dir=tmp_path / "home" / "data", parse_memory_mb=1024)
    work = tmp_path / "home" / "cwd"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    canary = f"askdocs-canary-{uuid.uuid4().hex}"
    names = [
        f"../../../../../../../../tmp/{canary}-1.md",
        f"/tmp/{canary}-2.md",
        f"..\\..\\..\\{canary}-3.md",
        f"．．／．．／{canary}-4.md",
        f"{tmp_path}/{canary}-5.md",
        f"../{canary}-6.md\x00.txt",
        f"{canary}-7\u202edm.exe",
        "",
        "..",
        "/",
        "a" * 5000 + ".md",
    ]
    store = store_from_settings(settings)
    try:
        bm25 = BM25Directory(settings.bm25_dir)
        ingestor = Ingestor(store, WordEmbedder(), bm25, settings)  # type: ignore[arg-type]
        before = snapshot(tmp_path)
        outcomes = [
            ingestor.ingest_bytes(name, f"# Doc {i}\n\nlighthouse {i}".encode(), "default")
            for i, name in enumerate(names)
        ]
        ingestor.rebuild_bm25("default")
        after = snapshot(tmp_path)
    finally:
        store.close()
    # "", ".." and "/" all become "document": the later ones update it.
    assert {o.status for o in outcomes} <= {"ingested", "updated"}, [o.line() for o in outcomes]
    assert all(not o.source.startswith("/") and ".." not in o.source.split("/") for o in outcomes)
    changed = [p for p in after if before.get(p) != after[p]]
    assert changed and all(p.is_relative_to(settings.data_dir) for p in changed), changed
    assert not list(work.iterdir())
    for root in (Path("/tmp"), tmp_path, tmp_path.parent):
        assert not [p for p in root.iterdir() if canary in p.name]
    assert not [p for p in after if canary in str(p)]


# -- the parse child's limits, with real hostile files ---------------------------------------------


def page_bomb(pages: int, mebibytes_each: int) -> bytes:
    """A PDF whose every page has its own content stream of ``mebibytes_each`` MiB of zeros."""
    deflated = pdfbytes.zeros_deflated(mebibytes_each)
    kids = b" ".join(b"%d 0 R" % (10 + 2 * i) for i in range(pages))
    objects = {1: pdfbytes.CATALOG, 2: b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages}
    objects[5] = pdfbytes.FONT
    for i in range(pages):
        objects[10 + 2 * i] = pdfbytes.page(2, b"%d 0 R" % (11 + 2 * i))
        objects[11 + 2 * i] = pdfbytes.flate_stream(deflated)
    return pdfbytes.build(objects)


@pytest.mark.slow
def test_a_pdf_whose_pages_inflate_past_the_memory_limit_is_refused_for_memory() -> None:
    """pypdf caps one stream at 75 MB; four 70 MiB pages get past that cap and meet RLIMIT_AS instead."""
    data = page_bomb(4, 70)
    assert len(data) < 400_000
    limits = resource.getrlimit(resource.RLIMIT_AS)
    settings = load_settings(parse_memory_mb=256, parse_timeout_s=120)
    with pytest.raises(RefusedInput, match=r"^parsing needed more than 256 MB of memory$"):
        parse_untrusted("bomb.pdf", data, settings)
    assert resource.getrlimit(resource.RLIMIT_AS) == limits  # the limit was the child's, not ours
    assert_still_works(settings)


def test_a_two_gigabyte_flate_bomb_is_refused_quickly() -> None:
    objects = pdfbytes.one_page()
    objects[4] = pdfbytes.flate_stream(pdfbytes.zeros_deflated(2048))
    data = pdfbytes.build(objects)  # 2.1 MB that inflate to 2 GiB
    settings = load_settings(parse_memory_mb=1024, max_upload_mb=5)
    start = time.monotonic()
    with pytest.raises(RefusedInput, match=r"^(unreadable PDF: .*[Ll]imit|parsing needed more than)"):
        parse_untrusted("bomb.pdf", data, settings)
    assert time.monotonic() - start < 30
    assert_still_works(settings)


def test_a_pdf_that_parses_for_too_long_is_killed(settings: Settings) -> None:
    """Millions of text operators from a 50 KB file: pypdf works through them for seconds."""
    objects = pdfbytes.one_page()
    objects[4] = pdfbytes.stream(b"BT /F1 12 Tf 72 720 Td (word) Tj ET\n" * 500_000, flate=True, level=9)
    data = pdfbytes.build(objects)
    quick = load_settings(parse_timeout_s=1.0, parse_memory_mb=1024, max_upload_mb=2)
    start = time.monotonic()
    with pytest.raises(RefusedInput, match=r"^parsing took longer than 1 s$"):
        parse_untrusted("slow.pdf", data, quick)
    assert time.monotonic() - start < 10
    assert_still_works(settings)


def test_html_that_needs_too_much_memory_is_refused(settings: Settings) -> None:
    data = b"<html><body>" + b"<b>x</b>" * (1 << 20)  # 8 MB, a million elements
    tight = load_settings(parse_memory_mb=256, max_upload_mb=20)
    with pytest.raises(RefusedInput, match=r"^parsing needed more than 256 MB of memory$"):
        parse_untrusted("wide.html", data, tight)
    assert_still_works(settings)


def test_a_hang_is_killed_and_the_next_upload_works(bad_loaders: Path, settings: Settings) -> None:
    with pytest.raises(RefusedInput, match=r"^parsing took longer than 1 s$"):
        hang = f"{bad_loaders}:Hang"
        parse_in_child("text", b"x", timeout_s=1, memory_mb=256, max_pages=1, loader_ref=hang)
    assert_still_works(settings)


# -- encrypted, truncated, circular and malformed PDFs ---------------------------------------------


@pytest.mark.parametrize("algorithm", ["RC4-40", "RC4-128", "AES-128", "AES-256"])
@pytest.mark.parametrize("user_password", ["", "secret"])
def test_encrypted_pdfs_are_refused_with_a_clear_message(
    algorithm: str, user_password: str, pdf_3pages: bytes, settings: Settings
) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_3pages)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(RefusedInput, match=r"^encrypted PDF: remove the password and upload again$"):
        parse_untrusted("locked.pdf", out.getvalue(), settings)


def _pages(kids: bytes, count: int = 1, **extra: bytes) -> dict[int, bytes]:
    objects = pdfbytes.one_page("text on the real page")
    objects[2] = b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count
    objects.update({int(k[1:]): v for k, v in extra.items()})
    return objects


def _with(objects: dict[int, bytes], **changes: bytes) -> dict[int, bytes]:
    return {**objects, **{int(k[1:]): v for k, v in changes.items()}}


def _damaged() -> dict[str, bytes]:
    good = pdfbytes.one_page("text on the real page")
    plain = pdfbytes.build(good)
    start = pdfbytes.startxref(plain)
    cases = {
        "kids point at their own node": pdfbytes.build(_pages(b"2 0 R 3 0 R", 2)),
        "pages tree cycle": pdfbytes.build(
            _pages(b"6 0 R 3 0 R", 2, o6=b"<< /Type /Pages /Kids [2 0 R] /Parent 2 0 R /Count 1 >>")
        ),
        "page is its own kid": pdfbytes.build(
            _with(good, o3=b"<< /Type /Page /Parent 2 0 R /Kids [3 0 R] /Contents 4 0 R >>")
        ),
        "parent points at itself": pdfbytes.build(
            _with(good, o2=b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 2 0 R >>")
        ),
        "parent chain loops": pdfbytes.build(
            _with(
                good,
                o2=b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 6 0 R >>",
                o6=b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>",
            )
        ),
        "root pages reference loop": pdfbytes.build(_with(good, o2=b"7 0 R", o7=b"2 0 R")),
        "contents is the page itself": pdfbytes.build(_with(good, o3=pdfbytes.page(2, b"3 0 R"))),
        "contents array contains itself": pdfbytes.build(
            _with(good, o3=pdfbytes.page(2, b"6 0 R"), o6=b"[6 0 R 4 0 R]")
        ),
        "form xobject draws itself": pdfbytes.build(
            _with(
                good,
                o3=b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                b"/Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>",
                o4=pdfbytes.stream(b"/X1 Do BT /F1 12 Tf 72 720 Td (text on the real page) Tj ET"),
                o6=b"<< /Type /XObject /Subtype /Form /BBox [0 0 9 9] "
                b"/Resources << /XObject << /X1 6 0 R >> >> /Length 6 >>\nstream\n/X1 Do\nendstream",
            )
        ),
        "font encoding is the font": pdfbytes.build(
            _with(good, o5=b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding 5 0 R >>")
        ),
        "outline siblings loop": pdfbytes.build(
            _with(
                good,
                o1=b"<< /Type /Catalog /Pages 2 0 R /Outlines 6 0 R >>",
                o6=b"<< /First 7 0 R /Last 7 0 R >>",
                o7=b"<< /Title (a) /Parent 6 0 R /Next 7 0 R /Prev 7 0 R >>",
            )
        ),
        "xref /Prev points at itself": pdfbytes.build(good, trailer_extra=b"/Prev %d " % start),
        "xref stream /Prev points at itself": pdfbytes.build_with_xref_stream(good, prev="self"),
        "startxref points into the header": plain.replace(b"startxref\n%d" % start, b"startxref\n5"),
        "startxref past the end": plain.replace(b"startxref\n%d" % start, b"startxref\n99999999"),
        "no xref table": plain[:start] + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n",
        "trailer without root": plain.replace(b"/Root 1 0 R", b""),
        "root is not a dictionary": plain.replace(b"/Root 1 0 R", b"/Root 4 0 R"),
        "pages count lies": pdfbytes.build(_pages(b"3 0 R", 999_999_999)),
        "kids is not an array": pdfbytes.build(_with(good, o2=b"<< /Type /Pages /Kids 3 0 R /Count 1 >>")),
        "negative length": plain.replace(b"/Length ", b"/Length -", 1),
        "huge length": plain.replace(b"/Length ", b"/Length 9999999", 1),
        "unterminated string": plain.replace(b"(text on the real page)", b"(text on the real page"),
        "unbalanced dictionary": plain.replace(b"/Count 1 >>", b"/Count 1 >> >> >>"),
        "garbage after EOF": plain + bytes(range(256)) * 4 + b"%%EOF",
        "object numbers overflow": plain.replace(b"4 0 R", b"99999999999999999999 0 R"),
        "bad flate data": pdfbytes.build(
            _with(good, o4=b"<< /Length 20 /Filter /FlateDecode >>\nstream\n" + bytes(20) + b"\nendstream")
        ),
        "unknown filter": pdfbytes.build(
            _with(good, o4=b"<< /Length 4 /Filter /NoSuchDecode >>\nstream\nabcd\nendstream")
        ),
    }
    for share in (0.1, 0.5, 0.9, 0.99):  # cut short, with an end marker put back so the cut is what fails
        cases[f"truncated at {share:.0%}, marker restored"] = plain[: int(len(plain) * share)] + b"\n%%EOF\n"
    return cases


DAMAGED = _damaged()


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_pdfs_parse_or_are_refused_with_a_reason(case: str) -> None:
    start = time.monotonic()
    try:
        document = PdfLoader(max_pages=50).load(DAMAGED[case])
    except RefusedInput as refused:
        expected = ("unreadable PDF: ", "no extractable text", "too many pages")
        assert refused.reason.startswith(expected), refused
    else:
        assert isinstance(document, ParsedDocument)
        assert any("text on the real page" in p.text for p in document.pages)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(
    "case",
    ["pages tree cycle", "xref stream /Prev points at itself", "root pages reference loop", "huge length"],
)
def test_damaged_pdfs_through_the_child(case: str, settings: Settings) -> None:
    try:
        upload = parse_untrusted("damaged.pdf", DAMAGED[case], settings)
    except RefusedInput as refused:
        assert "internal error" not in refused.reason and "malformed" not in refused.reason
    else:
        assert upload.kind == "pdf"


def test_truncated_pdfs_are_refused(pdf_3pages: bytes) -> None:
    end = pdf_3pages.rindex(b"%%EOF")
    for cut in [*range(9, end, max(1, end // 25)), end + 4]:
        with pytest.raises(RefusedInput, match=r"^unreadable PDF: "):
            PdfLoader().load(pdf_3pages[:cut])
