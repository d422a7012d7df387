"""``python -m eval`` in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE, ROOT

pytestmark = pytest.mark.integration
TINY = Path(__file__).parent / "fixtures" / "beir_tiny"


def run_eval(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASKDOCS_DATA_DIR": str(data_dir), "ASKDOCS_MODEL_CACHE": str(MODEL_CACHE)}
    return subprocess.run(
        [sys.executable, "-m", "eval", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_retrieval_then_compare_from_the_command_line(tmp_path):
    first = run_eval(
        "retrieval",
        "--beir",
        str(TINY),
        "--configs",
        "bm25,dense",
        "--out",
        str(tmp_path / "a"),
        data_dir=tmp_path / "data",
    )
    assert first.returncode == 0, first.stderr
    assert "report:" in first.stdout and "ndcg@10" in first.stdout
    assert sorted(json.loads((tmp_path / "a" / "metrics.json").read_text())) == ["bm25", "dense"]

    second = run_eval(
        "retrieval",
        "--beir",
        str(TINY),
        "--configs",
        "bm25,hybrid@0.5",
        "--out",
        str(tmp_path / "b"),
        data_dir=tmp_path / "data",
    )
    assert second.returncode == 0, second.stderr
    compared = run_eval("compare", str(tmp_path / "a"), str(tmp_path / "b"), data_dir=tmp_path / "data")
    assert compared.returncode == 0, compared.stderr
    assert "ndcg@10" in compared.stdout and "dense" in compared.stdout and "hybrid@0.5" in compared.stdout


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path):
    bad_config = run_eval("retrieval", "--beir", str(TINY), "--configs", "bm42", data_dir=tmp_path / "data")
    assert bad_config.returncode == 2 and "unknown configuration 'bm42'" in bad_config.stderr
    assert "Traceback" not in bad_config.stderr
    missing = run_eval("retrieval", "--beir", str(tmp_path / "nowhere"), data_dir=tmp_path / "data")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr
    bad_split = run_eval("retrieval", "--beir", str(TINY), "--split", "train", data_dir=tmp_path / "data")
    assert bad_split.returncode == 2 and "dev, test" in bad_split.stderr, bad_split.stderr
