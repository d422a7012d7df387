"""The command lines as a user runs them: separate processes, a throwaway data dir, the real models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import MODEL_CACHE, ROOT, SAMPLE_DOCS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run(args: list[str], data_dir, timeout: float = 600) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data_dir),
        "ASKDOCS_MODEL_CACHE": str(MODEL_CACHE),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-data")


def test_ingest_twice_then_list_and_delete(data_dir, tmp_path):
    first = run(["-m", "ingest", str(SAMPLE_DOCS)], data_dir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" ingested ") == 5 and "summary: 5 ingested" in first.stdout
    listed = run(["-m", "ingest", "--list"], data_dir).stdout
    second = run(["-m", "ingest", str(SAMPLE_DOCS), "--list"], data_dir)
    assert second.stdout.count("unchanged ") == 5
    assert (
        listed.splitlines()[1:] == second.stdout.split("summary:")[1].splitlines()[2:]
    )  # same rows, same counts
    assert "python_sorting_howto.pdf" in listed and "     4 " in listed  # 4 pages

    bad = tmp_path / "upload"
    bad.mkdir()
    (bad / "fake.pdf").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    (bad / "empty.md").write_bytes(b"")
    shutil.copy(SAMPLE_DOCS / "zstd_README.md", bad / "zstd_copy.md")
    mixed = run(["-m", "ingest", str(bad), "--collection", "uploads"], data_dir)
    assert mixed.returncode == 0
    lines = {
        line.split()[1]: line
        for line in mixed.stdout.splitlines()
        if line.strip() and not line.startswith("summary")
    }
    assert lines["zstd_copy.md"].split()[0] == "ingested"
    assert lines["fake.pdf"].split()[0] == "refused" and "ZIP" in lines["fake.pdf"]
    assert lines["empty.md"].split()[0] == "refused" and "empty" in lines["empty.md"]

    deleted = run(["-m", "ingest", "--delete", "zstd_copy.md", "--collection", "uploads"], data_dir)
    assert deleted.returncode == 0 and deleted.stdout.startswith("  deleted")
    missing = run(["-m", "ingest", "--delete", "nope.pdf"], data_dir)
    assert missing.returncode == 1 and "not found" in missing.stdout


def test_only_refused_files_is_a_failure(data_dir, tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"not a pdf at all")
    result = run(["-m", "ingest", str(tmp_path / "x.pdf"), "--collection", "junk"], data_dir)
    assert result.returncode == 1 and "refused" in result.stdout


def test_ask_json_answers_with_a_citation(data_dir):
    run(["-m", "ingest", str(SAMPLE_DOCS)], data_dir)
    # Written as code ("itemgetter()"), as docs/evaluation.md says the default retrieval expects: a bare
    # "itemgetter" gets BM25's low prose weight, and MiniLM does not know the name (a known limit).
    result = run(
        ["-m", "generation", "ask", "Which module provides itemgetter() and attrgetter()?", "--json"],
        data_dir,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["citations"], answer["text"]
    assert ("python_sorting_howto.pdf", 2) in {(c["source"], c["page_start"]) for c in answer["citations"]}
    assert answer["timings"]["first_token"] > 0 and answer["backend"].startswith("local:")


def test_ask_streams_text_then_sources(data_dir):
    run(["-m", "ingest", str(SAMPLE_DOCS)], data_dir)
    result = run(["-m", "generation", "ask", "How do I generate a secure URL-safe token?"], data_dir)
    assert result.returncode == 0, result.stderr
    assert "python_secrets_module.html, p. 1" in result.stdout and "first token" in result.stdout


def test_ask_an_empty_store_says_what_to_do(tmp_path):
    result = run(["-m", "generation", "ask", "anything"], tmp_path)
    assert result.returncode == 2 and "python -m ingest" in result.stderr


def test_a_second_process_on_the_embedded_store_gets_a_clear_error(data_dir):
    from retrieval.stores import store_from_settings
    from tests.conftest import make_settings

    holder = store_from_settings(make_settings(data_dir))  # this process now owns the folder
    try:
        result = run(["-m", "ingest", "--list"], data_dir)
        assert result.returncode == 2 and "ASKDOCS_CHROMA_MODE=server" in result.stderr
    finally:
        holder.close()
