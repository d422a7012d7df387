import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from askdocs.settings import Settings

pytestmark = pytest.mark.unit

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def test_environment_variables_with_the_prefix_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("ASKDOCS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ASKDOCS_TOP_K", "7")
    monkeypatch.setenv("ASKDOCS_API_KEY", "sk-secret")
    s = Settings()
    assert s.data_dir == tmp_path and s.top_k == 7
    assert s.chroma_dir == tmp_path / "chroma" and s.model_cache_dir == tmp_path / "models"
    assert "sk-secret" not in repr(s) and s.api_key.get_secret_value() == "sk-secret"


def test_bad_values_name_the_setting(monkeypatch):
    monkeypatch.setenv("ASKDOCS_TOP_K", "zero")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()


def test_overlap_must_be_smaller_than_the_chunk():
    with pytest.raises(ValidationError, match="CHUNK_OVERLAP"):
        Settings(chunk_tokens=50, chunk_overlap_tokens=50)


def test_every_setting_is_documented():
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC, re.M))
    assert set(Settings.model_fields) == documented


@pytest.mark.unit
@pytest.mark.parametrize(
    ("raw", "expected"), [("none", None), ("None", None), ("", None), ("off", None), ("0.5", 0.5)]
)
def test_the_code_weight_can_be_turned_off_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("ASKDOCS_BM25_WEIGHT_CODE", raw)
    monkeypatch.setenv("ASKDOCS_RERANKER", "none")  # other settings keep "none" as plain text
    settings = Settings()
    assert settings.bm25_weight_code == expected and settings.reranker == "none"
