"""Run folders, run.json, provenance and comparison (eval/runs.py, eval/provenance.py, eval/compare.py)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime

import numpy as np
import pytest

from askdocs.settings import Settings
from eval.runs import (
    RunError,
    compare_runs,
    comparison_warnings,
    format_comparison,
    git_revision,
    list_runs,
    load_run,
    new_run,
    new_run_dir,
    public_settings,
    save_run,
)

pytestmark = pytest.mark.unit

NOON = datetime(2026, 11, 22, 10, 45, 12, tzinfo=UTC)


def run(created: str = "2026-11-22T10:45:12+00:00", **configs: dict) -> dict:
    return {
        "kind": "retrieval",
        "run_id": "x",
        "created": created,
        "git_revision": "abc",
        "settings": {"top_k": 4, "bm25_weight": 1.0, "data_dir": "/home/a/.askdocs"},
        "dataset": {"name": "python-faq", "split": "test", "queries": 20, "documents": 300},
        "configs": {name: {"description": name, "metrics": m, "notes": []} for name, m in configs.items()},
        "extra": {},
    }


# --- folders and run.json -------------------------------------------------------------------------


def test_run_dirs_are_named_by_time_kind_and_dataset_and_never_shared(tmp_path):
    first = new_run_dir(tmp_path / "runs", "retrieval", "Python FAQ!", now=NOON)
    second = new_run_dir(tmp_path / "runs", "retrieval", "Python FAQ!", now=NOON)
    assert first.name == "20261122-104512-retrieval-python-faq"
    assert second.name == "20261122-104512-retrieval-python-faq-2"
    assert first.is_dir() and second.is_dir() and not any(first.iterdir())
    assert new_run_dir(tmp_path / "runs", "answers", "../../etc", now=NOON).parent == tmp_path / "runs"
    with pytest.raises(ValueError, match="kind"):
        new_run_dir(tmp_path, "speed", "x")


def test_save_then_load_round_trips_and_stores_strict_json(tmp_path):
    data = run(bm25={"ndcg@10": np.float64(0.5), "mrr@10": float("nan"), "recall@10": 1})
    data["configs"]["bm25"]["latencies_ms"] = np.array([1.5, 2.5])
    folder = tmp_path / "runs" / "r1"
    path = save_run(data, folder)

    assert path == folder / "run.json"
    assert [p.name for p in folder.iterdir()] == ["run.json"]  # no temp file left behind
    text = path.read_text()
    assert "NaN" not in text
    loaded = load_run(folder)
    assert loaded["configs"]["bm25"]["metrics"] == {"ndcg@10": 0.5, "mrr@10": None, "recall@10": 1}
    assert loaded["configs"]["bm25"]["latencies_ms"] == [1.5, 2.5]
    runs_dir = tmp_path / "runs"
    assert load_run(path) == loaded == load_run("r1", runs_dir) == load_run("latest", runs_dir)


def test_saving_again_replaces_the_file_whole(tmp_path):
    save_run(run(bm25={"ndcg@10": 0.1}), tmp_path)
    save_run(run(dense={"ndcg@10": 0.2}), tmp_path)
    assert list(load_run(tmp_path)["configs"]) == ["dense"]


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "no run"),
        ("{not json", "unreadable"),
        ('{"kind": "speed"}', "kind"),
        ('{"kind": "answers", "configs": {"a": 3}}', "configuration 'a'"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_unusable_runs_raise_a_run_error_with_the_reason(tmp_path, content, reason):
    if content is not None:
        (tmp_path / "run.json").write_text(content)
    with pytest.raises(RunError, match=reason):
        load_run(tmp_path)


def test_runs_are_listed_newest_first_broken_ones_skipped_with_a_note_running_ones_quietly(tmp_path, caplog):
    save_run(run("2026-11-22T09:00:00+00:00", bm25={"ndcg@10": 0.3}), tmp_path / "b-older")
    newest = run("2026-11-22T11:00:00+00:00", bm25={"ndcg@10": 0.4}, dense={})
    save_run(
        {**newest, "git_revision": "0123456789abcdef0123456789abcdef01234567-dirty"}, tmp_path / "a-newer"
    )
    save_run(run("2026-11-22T10:00:00+00:00"), tmp_path / "c-middle")
    (tmp_path / "d-broken").mkdir()
    (tmp_path / "d-broken" / "run.json").write_text('{"kind": "retrieval", "configs": ')
    (tmp_path / "e-empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a run")

    skipped: list[str] = []
    runs = list_runs(tmp_path, skipped)

    assert [r.run_id for r in runs] == ["a-newer", "c-middle", "b-older"]
    assert runs[0].headline == (("bm25", 0.4), ("dense", None))
    assert (runs[0].dataset, runs[0].split, runs[0].path) == ("python-faq", "test", tmp_path / "a-newer")
    assert (
        str(runs[0]) == "a-newer  python-faq/test  ndcg@10: bm25 0.400, dense n/a  (git 0123456789ab-dirty)"
    )
    assert str(runs[1]).endswith("(git abc)")
    assert [s.split(":")[0] for s in skipped] == ["d-broken"]  # e-empty has no run.json yet: still running
    assert "d-broken" in caplog.text
    assert list_runs(tmp_path / "missing") == []


# --- provenance -----------------------------------------------------------------------------------


def test_git_revision_names_the_commit_and_says_when_the_tree_is_dirty(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    assert git_revision(tmp_path) == "unknown"
    git("init", "-q")
    assert git_revision(tmp_path) == "unknown"  # no commit yet
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-q", "-m", "a")
    clean = git_revision(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", clean)
    (tmp_path / "a.txt").write_text("b")
    assert git_revision(tmp_path) == clean + "-dirty"
    assert git_revision(tmp_path / "no-such-folder") == "unknown"


def test_public_settings_drop_the_api_key_and_keep_token_counts(tmp_path):
    settings = Settings(data_dir=tmp_path, api_key="sk-live-0123456789", api_base_url="https://u:pw@h/v1")
    public = public_settings(settings)

    assert "api_key" not in public
    text = json.dumps(public)  # JSON-ready as it is
    assert "sk-live-0123456789" not in text and "pw@" not in text
    assert public["api_base_url"] == "https://h/v1"
    for kept in ("chunk_tokens", "chunk_overlap_tokens", "max_prompt_tokens", "max_answer_tokens", "top_k"):
        assert public[kept] == getattr(settings, kept)
    assert public["data_dir"] == str(tmp_path)
    assert set(public) == set(Settings.model_fields) - {"api_key"}


def test_public_settings_judge_names_by_whole_words_and_values():
    public = public_settings(
        {
            "hf_token": "hf_abc",
            "admin_password": "pw",
            "cookie-secret": "s",
            "openai_apikey": None,
            "sso_credentials": {"id": "x"},
            "tokenizer": "bert",
            "max_token": 5,
            "monkey": "ok",
            "nested": {"db_password": "pw", "size": 3},
        }
    )
    assert public == {"tokenizer": "bert", "max_token": 5, "monkey": "ok", "nested": {"size": 3}}


def test_new_run_starts_a_run_json_with_provenance(tmp_path):
    folder = new_run_dir(tmp_path, "answers", "sample", now=NOON)
    header = new_run("answers", folder, Settings(data_dir=tmp_path, api_key="sk-x"), {"name": "sample"})
    assert header["run_id"] == folder.name and header["kind"] == "answers"
    assert header["configs"] == {} and "api_key" not in header["settings"]
    assert datetime.fromisoformat(header["created"]).tzinfo is not None
    assert header["git_revision"]
    save_run(header, folder)


# --- comparison -----------------------------------------------------------------------------------


def test_compare_gives_each_delta_its_direction():
    a = run(
        bm25={"ndcg@10": 0.412, "latency_p50_ms": 12.0, "tokens_in_mean": 300.0, "mrr@10": None},
        dense={"ndcg@10": 0.5},
    )
    b = run(
        bm25={
            "ndcg@10": 0.437,
            "latency_p50_ms": 15.0,
            "tokens_in_mean": 250.0,
            "mrr@10": 0.3,
            "recall@100": 0.9,
        },
        hybrid={"ndcg@10": 0.6},
    )
    deltas = {(d.config, d.metric): d for d in compare_runs(a, b)}

    ndcg = deltas["bm25", "ndcg@10"]
    assert ndcg.delta == pytest.approx(0.025) and ndcg.higher_is_better and ndcg.improved is True
    latency = deltas["bm25", "latency_p50_ms"]
    assert latency.delta == 3.0 and not latency.higher_is_better and latency.improved is False
    assert deltas["bm25", "tokens_in_mean"].improved is True
    assert deltas["bm25", "mrr@10"].delta is None and deltas["bm25", "mrr@10"].improved is None
    assert deltas["bm25", "recall@100"].presence == "only_b" and deltas["bm25", "recall@100"].a is None
    assert deltas["dense", "ndcg@10"].presence == "only_a"
    assert deltas["hybrid", "ndcg@10"].presence == "only_b"
    assert [c for c, _ in deltas][:1] == ["bm25"]


def test_the_comparison_reads_like_the_example():
    a = run(bm25={"ndcg@10": 0.412, "latency_p50_ms": 12.0, "recall@10": 0.5}, dense={"ndcg@10": 0.5})
    b = run(bm25={"ndcg@10": 0.437, "latency_p50_ms": 15.0, "recall@10": 0.5}, hybrid={"ndcg@10": 0.6})
    text = format_comparison(compare_runs(a, b))
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}

    assert re.search(r"ndcg@10\s+0\.412 → 0\.437\s+\+0\.025 ▲ better", text)
    assert re.search(r"latency_p50_ms\s+12\.0 → 15\.0\s+\+3\.0 ▲ worse", lines["latency_p50_ms"])
    assert re.search(r"recall@10\s+0\.500 → 0\.500\s+±0 =", lines["recall@10"])
    assert "dense  (only in A)" in text and "hybrid  (only in B)" in text
    assert not text.startswith("warning")


def test_the_comparison_warns_when_data_or_settings_differ():
    a = run(bm25={"ndcg@10": 0.4})
    b = run(bm25={"ndcg@10": 0.5})
    assert comparison_warnings(a, b) == []
    b["dataset"] = {**a["dataset"], "split": "dev"}
    b["settings"] = {**a["settings"], "top_k": 8, "rrf_k": 60, "data_dir": "/elsewhere"}
    warnings = comparison_warnings(a, b)

    assert len(warnings) == 2
    assert "python-faq/test" in warnings[0] and "python-faq/dev" in warnings[0] and "split" in warnings[0]
    assert warnings[1] == "settings differ: rrf_k (— → 60), top_k (4 → 8)"  # data_dir changes no result
    text = format_comparison(compare_runs(a, b), warnings)
    assert text.startswith("warning: different datasets") and "warning: settings differ: rrf_k" in text
