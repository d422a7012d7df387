import pytest

from ingest.ids import chunk_id, content_version, document_id

pytestmark = pytest.mark.unit


def test_ids_are_stable_and_content_addressed():
    assert content_version(b"abc") == content_version(b"abc") != content_version(b"abd")
    assert chunk_id("d", "v1", 0, "text") == chunk_id("d", "v1", 0, "text")
    assert (
        len(
            {
                chunk_id("d", "v1", 0, "text"),
                chunk_id("d", "v2", 0, "text"),
                chunk_id("d", "v1", 1, "text"),
                chunk_id("d", "v1", 0, "other"),
                chunk_id("copy", "v1", 0, "text"),
            }
        )
        == 5
    )  # a copy of a file gets its own ids


def test_parts_cannot_run_into_each_other():
    assert document_id("ab", "c") != document_id("a", "bc")
    assert document_id("default", "a.pdf") != document_id("other", "a.pdf")
