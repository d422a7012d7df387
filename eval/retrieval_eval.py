"""Retrieval evaluation: index a BEIR corpus once, then score retriever configurations on it.

Each corpus passage becomes one chunk: BEIR passages are already passage-sized, and re-chunking
would change what a qrel points at. The dense model sees ``title + text`` (as BEIR's own dense
runs do) and truncates at its maximum length; BM25 sees all of it. The index lives in a cache
folder keyed by the corpus's content and the embedder, so the next run (another configuration,
the test split after the dev split) reuses it instead of embedding everything again.

Every configuration runs through the product's own :class:`HybridRetriever`, so what is
measured is what the app runs. A configuration is named by a small grammar:

    bm25 | dense | hybrid@W[:C] | default  W = BM25 weight, the dense weight being 1; C = BM25 weight
                                           for queries naming code (sort(), os.path), W when absent
    …/dN                                   N candidates from each ranker (default 100)
    …+rerank                               the configured cross-encoder over the fused top ones

``default`` is whatever the settings say (weights and depths), i.e. what users get.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np

from askdocs.settings import Settings
from askdocs.types import Chunk
from eval.beir import BeirDataset
from eval.metrics import latency_summary, mrr_at_k, ndcg_at_k, recall_at_k
from retrieval.bm25 import BM25Directory
from retrieval.embedders import Embedder
from retrieval.hybrid import HybridConfig, HybridRetriever
from retrieval.rerankers import Reranker, RerankFusion
from retrieval.stores import store_from_settings

COLLECTION = "eval"
DEPTH = 100  # results kept per query: enough for Recall@100
CURVE_KS = (1, 3, 5, 10, 20, 50, 100)
STANDARD_CONFIGS = ("bm25", "dense", "hybrid@1", "hybrid@0.5", "hybrid@0.25", "hybrid@0.05", "default")
_NAME = re.compile(
    r"^(bm25|dense|default|hybrid@(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?)(?:/d(\d+))?(\+rerank(?::(off|rrf))?)?$"
)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class RetrievalConfig:
    name: str
    hybrid: HybridConfig
    rerank: bool
    description: str


def parse_config(name: str, settings: Settings) -> RetrievalConfig:
    """Turn a configuration name into retriever settings; ValueError names the grammar."""
    match = _NAME.match(name.strip())
    if not match:
        raise ValueError(
            f"unknown configuration {name!r}: use bm25, dense, hybrid@W or hybrid@W:C (W = BM25 weight, dense 1; "
            "C = BM25 weight for queries naming code) or default, "
            "optionally followed by /dN (candidates per ranker) and +rerank, +rerank:off or +rerank:rrf "
            "(how the reranker's order meets retrieval's; +rerank alone: the settings' rerank_fusion)"
        )
    kind, weight, code_weight, depth, rerank, fusion = match.groups()
    base = HybridConfig.from_settings(settings)
    candidates = int(depth) if depth else (None if kind == "default" else DEPTH)
    if kind == "bm25":
        hybrid, what = replace(base, bm25_weight=1.0, dense_weight=0.0, bm25_weight_code=None), "BM25 alone"
    elif kind == "dense":
        hybrid, what = replace(base, bm25_weight=0.0, dense_weight=1.0, bm25_weight_code=None), "dense alone"
    elif kind == "default":
        hybrid = base
        code = (
            f", {base.bm25_weight_code:g} for queries naming code"
            if base.bm25_weight_code is not None
            else ""
        )
        what = f"the settings' hybrid (BM25 weight {base.bm25_weight:g}{code}, dense {base.dense_weight:g})"
    else:
        weight_code = float(code_weight) if code_weight else None
        hybrid = replace(base, bm25_weight=float(weight), dense_weight=1.0, bm25_weight_code=weight_code)
        what = (
            f"RRF, BM25 weight {weight}"
            + (f" ({code_weight} for queries naming code)" if code_weight else "")
            + ", dense 1"
        )
    if candidates:
        hybrid = replace(hybrid, bm25_candidates=candidates, dense_candidates=candidates)
    hybrid = replace(hybrid, top_k=DEPTH, rerank_fusion=cast(RerankFusion, fusion or hybrid.rerank_fusion))
    depth_note = f"{hybrid.bm25_candidates}/{hybrid.dense_candidates} candidates"
    fused = hybrid.rerank_fusion == "rrf"
    how = "RRF-fused with retrieval's order" if fused else "its order replaces retrieval's"
    reranking = f" + reranker ({how})" if rerank else ""
    return RetrievalConfig(name, hybrid, bool(rerank), f"{what}; {depth_note}{reranking}")


INDEX_FORMAT = 1  # raise when what an index holds changes (e.g. _passage_chunk), so old caches are not reused


def corpus_fingerprint(dataset: BeirDataset, embedder_spec: str) -> str:
    digest = hashlib.sha256(f"{INDEX_FORMAT}\0{embedder_spec}".encode())
    for doc_id in sorted(dataset.corpus):
        passage = dataset.corpus[doc_id]
        digest.update(f"\0{doc_id}\0{passage.title}\0{passage.text}".encode())
    return digest.hexdigest()[:16]


def _passage_chunk(doc_id: str, title: str, text: str) -> Chunk:
    body = f"{title}\n{text}" if title else text
    return Chunk(doc_id, doc_id, title or doc_id, COLLECTION, "beir", 0, body, 1, 1)


class EvalIndex:
    """A store and BM25 index holding one BEIR corpus, built once per corpus and embedder."""

    def __init__(self, folder: Path, settings: Settings, embedder: Embedder) -> None:
        self.folder = folder
        self.settings = settings.model_copy(update={"data_dir": folder, "chroma_mode": "embedded"})
        self.embedder = embedder
        self.store = store_from_settings(self.settings)
        self.store.bind_embedder(
            getattr(embedder, "identity", getattr(embedder, "spec", type(embedder).__name__))
        )
        self.bm25 = BM25Directory(self.settings.bm25_dir)
        self.build_seconds = 0.0  # of the build that made this index, even when reused
        self.cached = False

    @classmethod
    def open(
        cls,
        dataset: BeirDataset,
        settings: Settings,
        embedder: Embedder,
        cache: Path,
        progress: Progress | None = None,
    ) -> EvalIndex:
        # identity, not spec: int8 ONNX vectors of a model are not its torch ones (fp32 ONNX keeps the spec)
        identity = getattr(embedder, "identity", getattr(embedder, "spec", type(embedder).__name__))
        folder = cache / corpus_fingerprint(dataset, identity)
        index = cls(folder, settings, embedder)
        complete = folder / "COMPLETE"
        if complete.exists():
            index.build_seconds = float(json.loads(complete.read_text()).get("build_seconds", 0.0))
            index.cached = True
        else:
            try:
                index._build(dataset, progress)
            except BaseException:
                index.close()  # the store's lock must not outlive a failed build
                raise
            complete.write_text(
                json.dumps({"passages": len(dataset.corpus), "build_seconds": index.build_seconds})
            )
        return index

    def _build(self, dataset: BeirDataset, progress: Progress | None, batch: int = 128) -> None:
        started = time.perf_counter()
        chunks = [_passage_chunk(i, p.title, p.text) for i, p in sorted(dataset.corpus.items())]
        for start in range(0, len(chunks), batch):
            part = chunks[start : start + batch]
            self.store.upsert(part, np.asarray(self.embedder.embed([c.text for c in part]), dtype=np.float32))
            if progress:
                progress("indexing", start + len(part), len(chunks))
        self.bm25.publish(COLLECTION, ((c.chunk_id, c.doc_id, c.text) for c in chunks))
        self.build_seconds = time.perf_counter() - started

    def close(self) -> None:
        self.store.close()


def evaluate_config(
    index: EvalIndex,
    dataset: BeirDataset,
    config: RetrievalConfig,
    reranker: Reranker | None = None,
    progress: Progress | None = None,
) -> dict:
    """Run every query of ``dataset`` through one configuration; the run.json entry for it."""
    if config.rerank and reranker is None:
        raise ValueError(f"{config.name} needs a reranker: set ASKDOCS_RERANKER")
    retriever = HybridRetriever(
        index.store, index.embedder, index.bm25, config.hybrid, reranker if config.rerank else None
    )
    latencies, per_query, ranked_lists = [], {}, {}
    query_ids = sorted(dataset.queries)
    retriever.retrieve(dataset.queries[query_ids[0]], COLLECTION)  # untimed: first-call costs are not latency
    for done, query_id in enumerate(query_ids, 1):
        question = dataset.queries[query_id]
        started = time.perf_counter()
        hits = retriever.retrieve(question, COLLECTION).hits
        latencies.append(1000 * (time.perf_counter() - started))
        ranked = [h.chunk.doc_id for h in hits]
        judgments = dataset.qrels.get(query_id, {})
        ranked_lists[query_id] = ranked
        per_query[query_id] = {
            "question": question,
            "ndcg@10": ndcg_at_k(ranked, judgments, 10),
            "recall@10": recall_at_k(ranked, judgments, 10),
            "mrr@10": mrr_at_k(ranked, judgments, 10),
            "retrieved": [
                {
                    "id": h.chunk.doc_id,
                    "title": h.chunk.source,
                    "relevant": judgments.get(h.chunk.doc_id, 0) > 0,
                    "score": round(h.score, 6),
                }
                for h in hits[:10]
            ],
            "relevant": sorted(d for d, grade in judgments.items() if grade > 0),
        }
        if progress:
            progress(config.name, done, len(query_ids))

    def mean(metric: Callable[[Sequence[str], Mapping[str, int], int], float], k: int) -> float:
        return float(np.mean([metric(ranked_lists[q], dataset.qrels.get(q, {}), k) for q in query_ids]))

    timing = latency_summary(latencies)
    return {
        "description": config.description,
        "metrics": {
            "ndcg@10": mean(ndcg_at_k, 10),
            "recall@10": mean(recall_at_k, 10),
            "recall@100": mean(recall_at_k, 100),
            "mrr@10": mean(mrr_at_k, 10),
            "latency_p50_ms": timing["p50"],
            "latency_p95_ms": timing["p95"],
        },
        "recall_curve": {str(k): mean(recall_at_k, k) for k in CURVE_KS},
        "latencies_ms": [round(x, 3) for x in latencies],
        "per_query": per_query,
        "notes": [],
    }
