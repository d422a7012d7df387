"""Reports written from synthetic runs of both kinds (eval/report.py, plots.py, report_render.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from eval.report import worst_queries, write_report

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_QUESTION = "<script>alert(1)</script> ![x](http://evil/) [click](https://evil/phish)"
HOSTILE_TITLE = '<img src="https://evil/pixel.png" onerror=alert(2)>'


def retrieval_run() -> dict:
    def config(description: str, ndcg: float, p50: float, scores: list[float]) -> dict:
        per_query = {
            f"q{i:02d}": {
                "question": HOSTILE_QUESTION if i == 3 else f"question {i}?",
                "ndcg@10": s,
                "recall@10": min(1.0, s + 0.1),
                "mrr@10": s,
                "retrieved": [
                    {
                        "id": f"d{i}",
                        "title": HOSTILE_TITLE if i == 3 else f"Doc {i}",
                        "relevant": s > 0.5,
                        "score": 1.5,
                    }
                ],
                "relevant": [f"d{i}", "d-missed"],
            }
            for i, s in enumerate(scores)
        }
        return {
            "description": description,
            "metrics": {
                "ndcg@10": ndcg,
                "recall@10": ndcg + 0.1,
                "recall@100": 0.9,
                "mrr@10": ndcg - 0.05,
                "latency_p50_ms": p50,
                "latency_p95_ms": p50 * 2,
            },
            "recall_curve": {
                "1": 0.2,
                "3": 0.4,
                "5": 0.5,
                "10": ndcg + 0.1,
                "20": 0.8,
                "50": 0.85,
                "100": 0.9,
            },
            "latencies_ms": [p50 * (1 + i / 10) for i in range(20)],
            "per_query": per_query,
            "notes": [],
        }

    scores = [0.9, 0.8, 0.7, 0.05, 0.6, 0.0, 0.95, 0.3, 0.5, 0.45, 0.85, 0.2]
    return {
        "kind": "retrieval",
        "run_id": "20261122-104512-retrieval-python-faq",
        "created": "2026-11-22T10:45:12+00:00",
        "git_revision": "0123abc-dirty",
        "settings": {
            "embedder": "pkg:all-minilm-l6-v2",
            "top_k": 4,
            "rrf_k": 60,
            "data_dir": "/tmp/x",
            "reranker": "/models/rr",
            "reranker_backend": "onnx-int8",
            "rerank_fusion": "rrf",
        },
        "dataset": {"name": "python-faq", "split": "test", "queries": 12, "documents": 300},
        "configs": {
            "bm25": config("BM25 alone", 0.41, 3.0, scores),
            "dense": config("MiniLM dense", 0.52, 20.0, scores),
            "hybrid": config("weighted RRF", 0.55, 24.0, scores),
        },
        "extra": {
            "embedders": [{"embedder": "minilm", "ndcg@10": 0.52}, {"embedder": "bge", "ndcg@10": 0.5}]
        },
    }


def answers_run() -> dict:
    def per_query(correct: list[float | None]) -> dict:
        return {
            f"a{i}": {
                "question": HOSTILE_QUESTION if i == 0 else f"how do I {i}?",
                "answer": "See [1]. ![p](https://evil/track.gif)" if i == 0 else f"answer {i}",
                "gold": f"gold {i}",
                "cited": ["faq.html, p. 1"],
                "correctness": c,
                "abstained": False,
                "retrieved": [{"id": f"c{i}", "title": "faq.html p. 1", "relevant": True, "score": 0.7}],
                "relevant": [],
            }
            for i, c in enumerate(correct)
        }

    return {
        "kind": "answers",
        "run_id": "20261122-110000-answers-sample",
        "created": "2026-11-22T11:00:00+00:00",
        "git_revision": "unknown",
        "settings": {},
        "dataset": {"name": "sample", "split": "test"},
        "configs": {
            "qwen": {
                "description": "Qwen 0.5B",
                "metrics": {
                    "correctness": 0.7,
                    "citation_validity": 0.9,
                    "groundedness": None,
                    "ttft_p50_ms": 2300.0,
                    "total_p50_ms": 9000.0,
                    "tokens_in_mean": 355.0,
                    "judge_failures": 2.0,
                },
                "latencies_ms": {"ttft": [2000.0, 2300.0, None], "total": [8000.0, 9000.0, 12000.0]},
                "per_query": per_query([1.0, 0.0, None, 0.5]),
                "notes": [
                    "judge failed on 2 of 4; judge_correctness covers the rest",
                    "groundedness: judge down",
                ],
            },
            "smollm": {
                "description": "SmolLM2 135M",
                "metrics": {
                    "correctness": 0.3,
                    "citation_validity": None,
                    "groundedness": None,
                    "ttft_p50_ms": 300.0,
                    "total_p50_ms": 1500.0,
                    "tokens_in_mean": 355.0,
                    "judge_failures": 0.0,
                },
                "latencies_ms": {"ttft": [300.0], "total": [1500.0]},
                "per_query": per_query([0.0, 1.0]),
                "notes": [],
            },
        },
        "extra": {
            "generator": "local:qwen",
            "index": {"embedder": "pkg:minilm", "build_seconds": 1.5},
            "raw": {"nested": [1, 2]},
        },
    }


def metric_row(markdown: str, metric: str) -> list[str]:
    escaped = metric.replace("_", "\\_")
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {escaped} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()


def test_a_retrieval_report_has_its_files_and_valid_plots(tmp_path):
    files = write_report(retrieval_run(), tmp_path)

    assert files.markdown == tmp_path / "report.md" and files.html == tmp_path / "report.html"
    assert [p.name for p in files.plots] == [
        "metrics-quality.png",
        "metrics-latency.png",
        "recall-at-k.png",
        "latency-distribution.png",
    ]
    for png in files.plots:
        assert_valid_png(png)
    page = files.html.read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert "20261122-104512-retrieval-python-faq" in page and "0123abc-dirty" in page
    assert "python-faq" in page and "embedder=pkg:all-minilm-l6-v2" in page
    # how a reranker ran and met retrieval changes every +rerank number, so the header says it
    assert "reranker_backend=onnx-int8" in page and "rerank_fusion=rrf" in page
    assert "minilm" in files.markdown.read_text()  # the extra table


def test_hostile_text_is_escaped_in_html_and_markdown(tmp_path):
    for run in (retrieval_run(), answers_run()):
        files = write_report(run, tmp_path / run["kind"])
        page = files.html.read_text()

        assert "http://" not in page and "https://" not in page
        assert "<script" not in page.lower()
        ours = r'<img alt="[^"<>]*" src="data:image/png;base64,[A-Za-z0-9+/=]+">'
        assert re.findall(r"<img [^>]*>", page) == re.findall(ours, page)
        assert "&lt;script&gt;alert(1)&lt;&#47;script&gt;" in page
        assert "http:&#47;&#47;evil&#47;" in page  # shown, as text
        csp = '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:;'
        assert csp in page

        markdown = files.markdown.read_text()
        assert "<script" not in markdown and "<img" not in markdown
        assert "http://" not in markdown and "https://" not in markdown
        assert not re.search(r"(?<!\\)\[[^\]]*\]\(\s*http", markdown)  # no live link or image to outside
        assert r"&lt;script&gt;alert(1)&lt;/script&gt; !\[x](http:\/\/evil/)" in markdown


def test_the_best_value_of_each_metric_is_bold_and_only_that_one(tmp_path):
    markdown = write_report(retrieval_run(), tmp_path).markdown.read_text()

    assert metric_row(markdown, "ndcg@10") == ["ndcg@10", "0.410", "0.520", "**0.550**", "higher"]
    latency = metric_row(markdown, "latency_p50_ms")
    assert latency == ["latency\\_p50\\_ms", "**3.0**", "20.0", "24.0", "lower"]
    # all equal: nothing stands out
    assert metric_row(markdown, "recall@100") == ["recall@100", "0.900", "0.900", "0.900", "higher"]
    page = (tmp_path / "report.html").read_text()
    assert "<td>ndcg@10</td><td>0.410</td><td>0.520</td><td><strong>0.550</strong></td>" in page


def test_missing_metrics_show_n_a_with_the_note_that_explains_them(tmp_path):
    markdown = write_report(answers_run(), tmp_path).markdown.read_text()

    # qwen's note 2 names groundedness; smollm has no notes; nobody has two values, so nothing is bold
    assert metric_row(markdown, "groundedness") == ["groundedness", "n/a \\[2]", "n/a", "higher"]
    assert metric_row(markdown, "citation_validity") == ["citation\\_validity", "0.900", "n/a", "higher"]
    assert metric_row(markdown, "correctness") == ["correctness", "**0.700**", "0.300", "higher"]
    assert metric_row(markdown, "judge_failures") == ["judge\\_failures", "2", "**0**", "lower"]
    assert "- \\[2] qwen: groundedness: judge down" in markdown


def test_worst_queries_are_the_lowest_scoring_with_unscored_last():
    per_query = {
        "a": {"s": 0.5},
        "b": {"s": None},
        "c": {"s": 0.1},
        "d": {"s": 0.1},
        "e": {"s": 0.9},
        "f": {},
    }
    assert [q for q, _ in worst_queries(per_query, "s", 4)] == ["c", "d", "a", "e"]
    assert [q for q, _ in worst_queries(per_query, "s", 10)][-2:] == ["b", "f"]


def test_the_report_lists_the_worst_retrieval_queries_with_what_was_retrieved(tmp_path):
    markdown = write_report(retrieval_run(), tmp_path, worst=3).markdown.read_text()
    bm25 = markdown.split("## Worst queries: bm25")[1].split("## Worst queries: dense")[0]

    assert re.findall(r"^### (q\d+): ndcg@10 ([\d.]+)$", bm25, re.M) == [
        ("q05", "0.000"),
        ("q03", "0.050"),
        ("q11", "0.200"),
    ]
    assert "Relevant but not retrieved: d\\-missed" not in bm25  # only escaped where it starts a line
    assert "Relevant but not retrieved: d-missed" in bm25
    assert "| 1 | d5 | Doc 5 | ✗ | 1.500 |" in bm25
    assert "Scores: recall@10 0.100, mrr@10 0.000" in bm25


def test_an_answers_report_shows_answer_gold_and_both_latency_series(tmp_path):
    files = write_report(answers_run(), tmp_path)
    markdown = files.markdown.read_text()

    assert [p.name for p in files.plots] == [
        "metrics-quality.png",
        "metrics-latency.png",
        "metrics-tokens.png",
        "latency-distribution.png",
    ]
    for png in files.plots:
        assert_valid_png(png)
    with Image.open(tmp_path / "latency-distribution.png") as image:
        assert image.width > image.height  # two panels side by side: ttft and total
    qwen = markdown.split("## Worst queries: qwen")[1].split("## Worst queries: smollm")[0]
    assert re.findall(r"^### (a\d)", qwen, re.M) == ["a1", "a3", "a0", "a2"]  # a2 has no correctness
    assert "Answer: answer 1" in qwen and "Gold: gold 1" in qwen and "Cited: faq.html, p. 1" in qwen
    assert "generator: local:qwen" in markdown and "| build\\_seconds | 1.5 |" in markdown
    assert '"nested": [' in markdown  # anything deeper is shown as JSON


def test_empty_runs_and_empty_configurations_still_give_a_report(tmp_path):
    empty = {"kind": "answers", "configs": {}}
    files = write_report(empty, tmp_path / "empty")
    assert files.plots == () and "no configurations" in files.html.read_text()

    bare = {"kind": "retrieval", "configs": {"bm25": {}, "dense": {"metrics": {"ndcg@10": None}}}}
    files = write_report(bare, tmp_path / "bare")
    markdown = files.markdown.read_text()
    assert [p.name for p in files.plots] == ["metrics-quality.png"]
    assert metric_row(markdown, "ndcg@10") == ["ndcg@10", "n/a", "n/a", "higher"]
    assert markdown.count("No per-query results.") == 2


@pytest.mark.slow
def test_reporting_never_touches_pyplot(tmp_path):
    """pyplot's global state is not safe in the app's threads; a fresh interpreter shows it stays unloaded."""
    code = (
        "import sys, json\n"
        "from eval.report import write_report\n"
        "write_report(json.loads(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )

    done = subprocess.run(  # the run goes in as JSON: the contract is JSON anyway
        [sys.executable, "-c", code, json.dumps(answers_run()), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "latency-distribution.png").exists()


@pytest.mark.slow
def test_two_reports_can_be_drawn_at_once(tmp_path):
    """The app may draw reports for two sessions at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        runs = [retrieval_run(), answers_run(), retrieval_run(), answers_run()]
        jobs = [pool.submit(write_report, run, tmp_path / str(i)) for i, run in enumerate(runs)]
        results = [job.result() for job in jobs]
    for files in results:
        for png in files.plots:
            assert_valid_png(png)
    same = [(tmp_path / i / "recall-at-k.png").read_bytes() for i in ("0", "2")]
    assert same[0] == same[1]  # deterministic, even when drawn side by side
