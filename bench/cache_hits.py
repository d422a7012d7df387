"""Semantic-cache hit rate and false-hit rate by similarity threshold, on paraphrases of the sample questions.

    python -m bench.cache_hits [--embedder pkg:all-minilm-l6-v2] [--thresholds 0.85,0.9,0.95]

``bench/cache_pairs.jsonl`` holds, for each question of ``sample_docs/questions.jsonl``, rewordings
that ask the same thing (``same``: should hit) and near questions that ask something else
(``different``: one word changed, e.g. readers for writers, IPv6 for IPv4; should miss). The run
fills a real :class:`~generation.cache.SemanticCache` with the 12 sample questions, then looks up
every rewording and every near question, as a user would ask them:

- hit rate: rewordings answered from the cache with *their own* question's answer;
- false-hit rate: near questions answered from the cache at all (a wrong answer served), plus
  rewordings answered with another question's answer (counted in "wrong" too).

It prints a markdown table (docs/benchmarks.md carries the last run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from askdocs.machine import cpu_line
from askdocs.quiet import quiet_libraries
from askdocs.settings import load_settings
from askdocs.types import Answer
from generation.cache import SemanticCache
from retrieval.embedders import load_embedder

if TYPE_CHECKING:
    from retrieval.embedders import Embedder

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "bench" / "cache_pairs.jsonl"
QUESTIONS = ROOT / "sample_docs" / "questions.jsonl"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cache_hits", description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default=None, help="default: ASKDOCS_EMBEDDER")
    parser.add_argument("--thresholds", default="0.80,0.85,0.88,0.90,0.92,0.93,0.95,0.97")
    args = parser.parse_args(argv)
    quiet_libraries()
    settings = load_settings()
    embedder = _Memo(
        load_embedder(args.embedder or settings.embedder, settings.device, cache_dir=settings.model_cache_dir)
    )
    questions = {q["id"]: q["question"] for q in map(json.loads, QUESTIONS.read_text().splitlines())}
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    same = [(p["id"], text) for p in pairs for text in p["same"]]
    different = [(p["id"], text) for p in pairs for text in p["different"]]

    print(cpu_line())
    print(
        f"embedder {embedder.spec}; {len(questions)} questions cached, {len(same)} rewordings, "
        f"{len(different)} near questions\n"
    )
    print(
        "| threshold | hit rate (rewordings) | wrong answer served (rewordings) | false hits (near questions) |"
    )
    print("|---|---|---|---|")
    for threshold in (float(t) for t in args.thresholds.split(",")):
        # SemanticCache calls only embed(), which the memo has
        cache = SemanticCache(
            cast("Embedder", embedder), lambda c: "1", lambda c, p: True, threshold, max_entries=1000
        )
        scope = cache.scope("default", None, "gen")
        for qid, text in questions.items():
            cache.store(cache.embed(text), scope, Answer(text, text, qid, (), (), False))
        hits = wrong = false_hits = 0
        for qid, text in same:
            found = cache.lookup(cache.embed(text), scope, None)
            hits += found is not None and found[0].text == qid
            wrong += found is not None and found[0].text != qid
        for _, text in different:
            false_hits += cache.lookup(cache.embed(text), scope, None) is not None
        print(
            f"| {threshold:.2f} | {hits}/{len(same)} ({hits / len(same):.0%}) | {wrong}/{len(same)} | "
            f"{false_hits}/{len(different)} ({false_hits / len(different):.0%}) |"
        )
    # What a lookup costs: embedding the question (not memoised here) and scanning a full cache.
    full = SemanticCache(embedder.embedder, lambda c: "1", lambda c, p: True, 0.95, max_entries=1000)
    scope = full.scope("default", None, "gen")
    rng = np.random.default_rng(0)
    for i in range(1000):
        vector = rng.normal(size=embedder.embedder.dimension).astype(np.float32)
        full.store(vector / np.linalg.norm(vector), scope, Answer("q", "q", str(i), (), (), False))
    embed_s, scan_s = [], []
    for _, text in same:
        started = time.perf_counter()
        vector = full.embed(text)
        embedded = time.perf_counter()
        full.lookup(vector, scope, None)
        embed_s.append(embedded - started)
        scan_s.append(time.perf_counter() - embedded)
    print(
        f"\nlookup over {len(same)} questions, p50 (max): embedding {1000 * float(np.median(embed_s)):.1f} ms "
        f"({1000 * max(embed_s):.1f}), scanning 1,000 entries {1000 * float(np.median(scan_s)):.1f} ms "
        f"({1000 * max(scan_s):.1f})"
    )
    vectors = {qid: cache.embed(text) for qid, text in questions.items()}
    closest = max(different, key=lambda d: float(vectors[d[0]] @ cache.embed(d[1])))
    print(
        f"\nclosest near question: {closest[1]!r} at {float(vectors[closest[0]] @ cache.embed(closest[1])):.3f} "
        f"to {questions[closest[0]]!r}"
    )


class _Memo:
    """The embedder, each text embedded once across all thresholds."""

    _seen: dict[str, np.ndarray]

    def __init__(self, embedder) -> None:  # noqa: ANN001 - an Embedder
        self.embedder, self.spec, self._seen = embedder, embedder.spec, {}

    def embed(self, texts):  # noqa: ANN001, ANN201
        for text in texts:
            if text not in self._seen:
                self._seen[text] = self.embedder.embed([text])[0]
        return np.stack([self._seen[t] for t in texts])


if __name__ == "__main__":
    main()
