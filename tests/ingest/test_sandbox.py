"""The sandbox against real child processes: real files, real hangs, real crashes."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from askdocs.settings import Settings, load_settings
from askdocs.types import Page, ParsedDocument
from ingest import sandbox
from ingest.loaders.html import HtmlLoader
from ingest.loaders.pdf import PdfLoader
from ingest.sandbox import ParsedUpload, parse_in_child, parse_untrusted
from ingest.validate import RefusedInput

pytestmark = pytest.mark.unit


@pytest.fixture
def settings() -> Settings:
    return load_settings(parse_timeout_s=30, parse_memory_mb=1024, max_pages=50, max_upload_mb=5)


def run(
    bad_loaders: Path, name: str, *, kind: str = "pdf", timeout_s: float = 30, memory_mb: int = 1024
) -> ParsedDocument:
    """Parse b"data" in a real child with one of the misbehaving loaders from conftest."""
    ref = f"{bad_loaders}:{name}"
    return parse_in_child(
        kind, b"data", timeout_s=timeout_s, memory_mb=memory_mb, max_pages=9, loader_ref=ref
    )


def test_pdf_round_trip_matches_in_process_parse(pdf_3pages: bytes, settings: Settings) -> None:
    upload = parse_untrusted("../../uploads/ｒｅｐｏｒｔ.pdf", pdf_3pages, settings)
    assert isinstance(upload, ParsedUpload)
    assert (upload.safe_name, upload.kind, upload.size_bytes) == ("report.pdf", "pdf", len(pdf_3pages))
    assert upload.document == PdfLoader().load(pdf_3pages)
    expected = Page(2, "Page 2 is about topic2: alpha beta gamma.\nSecond line of page 2.")
    assert upload.document.pages[1] == expected


def test_html_and_utf16_text(hidden_html: bytes, utf16_text: bytes, settings: Settings) -> None:
    assert parse_untrusted("h.html", hidden_html, settings).document == HtmlLoader().load(hidden_html)
    upload = parse_untrusted("notes", utf16_text, settings)
    assert upload.kind == "text"
    assert upload.document.pages[0].text.startswith("Grüße aus Köln.")


@pytest.mark.parametrize(
    ("fixture", "name", "reason"),
    [
        ("encrypted_pdf_empty_password", "a.pdf", r"^encrypted PDF: remove the password and upload again$"),
        ("encrypted_pdf", "a.pdf", r"^encrypted PDF"),
        ("truncated_pdf", "a.pdf", r"^unreadable PDF: the file is truncated"),
        ("blank_pdf", "a.pdf", r"^no extractable text \(scanned PDF\?\)$"),
        ("zip_bytes", "report.pdf", r"looks like a ZIP archive"),
    ],
)
def test_bad_files_are_refused_with_their_cause(
    fixture: str, name: str, reason: str, settings: Settings, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(RefusedInput, match=reason):
        parse_untrusted(name, request.getfixturevalue(fixture), settings)


def test_size_and_empty_are_refused_before_parsing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "parse_in_child", lambda *a, **k: pytest.fail("the child was started"))
    with pytest.raises(RefusedInput, match=r"^empty file$"):
        parse_untrusted("a.txt", b"", settings)
    with pytest.raises(RefusedInput, match=r"^too large: 6.0 MB, the limit is 5 MB$"):
        parse_untrusted("a.txt", b"a" * (6 * 1024 * 1024), settings)


def test_page_limit_is_applied_in_the_child(pdf_3pages: bytes) -> None:
    with pytest.raises(RefusedInput, match=r"^too many pages: 3, the limit is 2$"):
        parse_untrusted("a.pdf", pdf_3pages, load_settings(max_pages=2))


def test_hanging_parse_is_killed(bad_loaders: Path) -> None:
    start = time.monotonic()
    with pytest.raises(RefusedInput, match=r"^parsing took longer than 1.5 s$"):
        run(bad_loaders, "Hang", timeout_s=1.5)
    assert time.monotonic() - start < 10
    pid = int((bad_loaders.parent / "hang.pid").read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(pid, 0)


def test_real_parse_past_a_tiny_timeout_is_refused(pdf_3pages: bytes) -> None:
    with pytest.raises(RefusedInput, match=r"^parsing took longer than 0.001 s$"):
        parse_untrusted("a.pdf", pdf_3pages, load_settings(parse_timeout_s=0.001))


def test_memory_limit(bad_loaders: Path) -> None:
    with pytest.raises(RefusedInput, match=r"^parsing needed more than 256 MB of memory$"):
        run(bad_loaders, "Greedy", memory_mb=256)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Abort", r"^unreadable PDF: the parser crashed \(SIGABRT\)$"),
        ("Exit3", r"^unreadable PDF: the parser crashed \(exit code 3\)$"),
        ("Boom", r"^unreadable PDF: ValueError: boom at byte 42$"),
    ],
)
def test_crashes_and_exceptions_become_refusals(bad_loaders: Path, name: str, reason: str) -> None:
    with pytest.raises(RefusedInput, match=reason):
        run(bad_loaders, name)


def test_each_file_gets_its_own_process(bad_loaders: Path) -> None:
    pids = {run(bad_loaders, "Pid", kind="text").pages[0].text for _ in range(3)}
    assert len(pids) == 3 and str(os.getpid()) not in pids


def test_a_spare_that_died_while_idle_is_replaced(bad_loaders: Path) -> None:
    sandbox.warm_up()
    assert sandbox._spare is not None
    sandbox._spare[0].kill()
    sandbox._spare[0].wait()
    assert run(bad_loaders, "Noisy", kind="text").pages == (Page(1, "data"),)


def test_concurrent_parses(pdf_3pages: bytes, settings: Settings) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        uploads = list(pool.map(lambda i: parse_untrusted(f"{i}.pdf", pdf_3pages, settings), range(6)))
    assert {len(u.document.pages) for u in uploads} == {3}


def test_stdout_chatter_does_not_corrupt_the_result(bad_loaders: Path) -> None:
    document = run(bad_loaders, "Noisy", kind="text")
    assert document.pages == (Page(1, "data"),)


@pytest.mark.parametrize(
    "result",
    [
        [],
        {"ok": True, "pages": "nope", "title": "", "paginated": False},
        {"ok": True, "pages": [[1]], "title": "", "paginated": False},
        {"ok": True, "pages": [["1", "x"]], "title": "", "paginated": False},
        {"ok": True, "pages": [[True, "x"]], "title": "", "paginated": False},
        {"ok": True, "pages": [], "title": 3, "paginated": False},
    ],
)
def test_malformed_child_output_is_refused(result: object) -> None:
    with pytest.raises(RefusedInput, match="malformed output"):
        sandbox._document_from(result, "PDF", 1024)


def test_no_other_exception_escapes(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("cannot fork")

    monkeypatch.setattr(sandbox, "parse_in_child", broken)
    with pytest.raises(RefusedInput, match=r"internal error \(OSError\)"):
        parse_untrusted("a.txt", b"hello", settings)
