"""askdocs's hybrid retriever against the LangChain hybrid a user would build instead, in one run.

    python -m bench.peer [--pad 100000] [--reranker SPEC] [--out FILE.json]
    python -m bench.peer --quick           # 10 test queries over ~210 passages, pad to 2,000 (CI, ~1 min)

The peer is the hybrid that Open WebUI and many tutorials ship: LangChain's ``EnsembleRetriever`` over
``langchain_community``'s ``BM25Retriever`` (rank-bm25, its default whitespace tokeniser) and a
``langchain_chroma`` store as a retriever, weights 0.5/0.5, k = 10 from each. askdocs runs its own
``HybridRetriever`` with the settings' defaults (weighted RRF, BM25 0.05 / 1.0 for queries naming code,
100 candidates per ranker), k = 10. Both sides get:

- the same data: the Python-FAQ benchmark (``eval.datasets.python_faq``; the test split's 88 queries
  over 5,235 passages), one passage per chunk as ``eval.retrieval_eval`` indexes it;
- the same model: askdocs's embedder (MiniLM) behind a LangChain ``Embeddings`` class. The passage
  vectors are computed once (the eval's cached index) and handed to both stores, so both hold
  identical vectors; queries are embedded by the same model object on both sides, per query;
- the same process and queries, interleaved (askdocs, peer, askdocs, ...) after a warm-up of each, so
  a busy moment on this shared machine hits both.

**Padded run** (``--pad N``, default 100,000): both indexes get the same extra chunks, replicas of
the benchmark's *distractor* passages (never FAQ answers) with ~10 % of their words dropped at random,
each with its source passage's real vector plus Gaussian noise (expected cosine ≈ 0.95), renormalised.
So the padding is real Python-manual text with vectors close to what MiniLM gives it, at no
embedding cost; the FAQ judgements still hold (padding is unjudged, like the distractors).

**Cross-encoder.** No cross-encoder weights can be had offline here (issue 4 trains our own), so unless
``--reranker SPEC`` names one, the "+ cross-encoder" rows use a *latency stand-in*: MiniLM-L6's encoder
with an untrained one-logit head, the architecture of ``cross-encoder/ms-marco-MiniLM-L6-v2``, so its
cost is that model's cost; its nDCG is meaningless and is not reported. askdocs reranks its fused top
20 (``ASKDOCS_RERANK_CANDIDATES``); the peer's ``ContextualCompressionRetriever`` with
``CrossEncoderReranker(top_n=10)`` reranks the ensemble's output (up to 20).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench.measure import load_average, machine, percentiles, rss_mb

ROOT = Path(__file__).resolve().parents[1]
K = 10
PAD_NOISE = 0.0113  # per-dimension sigma: expected cosine 1 / sqrt(1 + 384 sigma^2) ≈ 0.95
_WORDS = re.compile(r"\S+")


# -- the peer ----------------------------------------------------------------------------------------
def langchain_embeddings(embedder: Any, known: dict[str, np.ndarray]) -> Any:
    """askdocs's embedder as a LangChain ``Embeddings``; texts in ``known`` reuse their computed vector."""
    from langchain_core.embeddings import Embeddings

    class AskdocsEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            missing = [t for t in texts if t not in known]
            if missing:
                known.update(zip(missing, embedder.embed(missing)))
            return [known[t].tolist() for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

    return AskdocsEmbeddings()


@dataclass
class Peer:
    """The LangChain ensemble over one corpus; ``search`` returns passage ids, best first."""

    ensemble: Any
    compressed: Any | None
    chroma: Any

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        texts: Sequence[str],
        embeddings: Any,
        folder: Path,
        cross_encoder: str | None,
    ) -> Peer:
        from langchain_chroma import Chroma
        from langchain_classic.retrievers import ContextualCompressionRetriever, EnsembleRetriever
        from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
        from langchain_community.retrievers import BM25Retriever

        metadatas = [{"id": i} for i in ids]
        bm25 = BM25Retriever.from_texts(texts, metadatas=metadatas, k=K)
        chroma = Chroma(collection_name="peer", embedding_function=embeddings, persist_directory=str(folder))
        for start in range(0, len(texts), 5000):
            chroma.add_texts(
                list(texts[start : start + 5000]),
                metadatas=metadatas[start : start + 5000],
                ids=list(ids[start : start + 5000]),
            )
        ensemble = EnsembleRetriever(
            retrievers=[bm25, chroma.as_retriever(search_kwargs={"k": K})], weights=[0.5, 0.5]
        )
        compressed = None
        if cross_encoder:
            from langchain_community.cross_encoders import HuggingFaceCrossEncoder

            model = HuggingFaceCrossEncoder(model_name=cross_encoder, model_kwargs={"device": "cpu"})
            compressed = ContextualCompressionRetriever(
                base_compressor=CrossEncoderReranker(model=model, top_n=K), base_retriever=ensemble
            )
        return cls(ensemble, compressed, chroma)

    def search(self, query: str, rerank: bool = False) -> list[str]:
        retriever: Any = self.compressed if rerank else self.ensemble  # compressed is set when reranking
        return [d.metadata["id"] for d in retriever.invoke(query)][:K]


class QueryMemo:
    """The embedder with every benchmark query embedded ahead: ``--cached-query-vectors`` times retrieval
    alone, since on a shared 2-core machine one query's embedding can take 15 ms or 500 ms, the same for
    both sides, and hide what differs."""

    def __init__(self, embedder: Any, queries: Sequence[str]) -> None:
        self._embedder = embedder
        self.spec, self.dimension, self.max_tokens = embedder.spec, embedder.dimension, embedder.max_tokens
        self._memo = dict(zip(queries, embedder.embed(list(queries))))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1 and texts[0] in self._memo:
            return self._memo[texts[0]][None, :]
        return self._embedder.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self._embedder.count_tokens(text)


# -- the corpus --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Corpus:
    ids: tuple[str, ...]
    texts: tuple[str, ...]  # as askdocs indexes them: "title\ntext"
    vectors: np.ndarray
    distractors: tuple[int, ...]  # rows that no query judges: the padding is made from them


def stored_vectors(index: Any, collection: str) -> dict[str, tuple[str, np.ndarray]]:
    """Every chunk's text and vector from an eval index (read back: re-embedding 5,235 passages would
    take minutes)."""
    return {
        chunk.chunk_id: (chunk.text, vector) for chunk, vector in index.store.iter_chunk_vectors(collection)
    }


def padding(corpus: Corpus, count: int, seed: int = 0) -> Iterator[tuple[str, str, np.ndarray]]:
    """``count`` replicas of distractor passages (see the module notes): (id, text, vector)."""
    rng = np.random.default_rng(seed)
    for n in range(count):
        row = corpus.distractors[int(rng.integers(len(corpus.distractors)))]
        words = _WORDS.findall(corpus.texts[row])
        keep = rng.random(len(words)) >= 0.1
        vector = corpus.vectors[row] + rng.normal(0, PAD_NOISE, cast(int, corpus.vectors.shape[1])).astype(
            np.float32
        )
        yield (
            f"pad{n}-{corpus.ids[row]}",
            " ".join(w for w, k in zip(words, keep) if k),
            vector / np.linalg.norm(vector),
        )


# -- running both ------------------------------------------------------------------------------------
def compare(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    ours: Callable[[str], list[str]],
    theirs: Callable[[str], list[str]],
) -> dict[str, Any]:
    """Interleaved timing and nDCG@10 of both retrievers over the same queries."""
    from eval.metrics import ndcg_at_k

    first = next(iter(queries.values()))
    ours(first), theirs(first)  # warm-up: first-call costs are not latency
    # Both indexes live in this process; the peer's (rank-bm25's per-document dicts, LangChain Documents)
    # is millions of Python objects, which the cyclic GC would walk again and again, inside whichever
    # side's query it happens to interrupt. Freezing them keeps each side's time its own.
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {"askdocs": [], "peer": []}
    ndcg: dict[str, list[float]] = {"askdocs": [], "peer": []}
    for n, (qid, text) in enumerate(sorted(queries.items())):
        order = [("askdocs", ours), ("peer", theirs)]
        for name, search in order if n % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            ranked = search(text)
            times[name].append(1000 * (time.perf_counter() - started))
            ndcg[name].append(ndcg_at_k(ranked, qrels.get(qid, {}), K))
    out: dict[str, Any] = {
        name: {"ndcg@10": float(np.mean(ndcg[name])), "latency_ms": percentiles(times[name])}
        for name in times
    }
    out["p50_ratio_askdocs_over_peer"] = (
        out["askdocs"]["latency_ms"]["p50"] / out["peer"]["latency_ms"]["p50"]
    )
    out["load_average"] = load_average()
    return out


def stand_in_cross_encoder(embedder_folder: Path, out: Path) -> Path:
    """MiniLM-L6's encoder under an untrained one-logit head: a cross-encoder of the right size (timing only)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForSequenceClassification.from_pretrained(str(embedder_folder), num_labels=1)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(embedder_folder)).save_pretrained(str(out))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from askdocs.models import resolve_embedder
    from askdocs.settings import load_settings
    from eval.beir import load_beir
    from eval.retrieval_eval import COLLECTION, EvalIndex
    from eval.runner import prepared_dataset
    from retrieval.embedders import embedder_from_settings
    from retrieval.hybrid import HybridConfig, HybridRetriever
    from retrieval.rerankers.cross_encoder import CrossEncoderReranker

    settings = load_settings()
    embedder = embedder_from_settings(settings)
    dataset = load_beir(args.beir or prepared_dataset("python-faq", settings), args.split)
    if args.cached_query_vectors:
        # BUG?: QueryMemo has no identity, so getattr(embedder, "identity", spec) fallbacks record the bare
        # spec, not the wrapped embedder's identity (e.g. "...#onnx-int8")
        embedder = QueryMemo(embedder, list(dataset.queries.values()))  # type: ignore[assignment]  # BUG?
    if args.quick:  # the first 10 queries, their passages and 200 distractors
        from eval.beir import BeirDataset

        qids = sorted(dataset.queries)[:10]
        judged = {d for q in qids for d in dataset.qrels.get(q, {})}
        extra = [d for d in sorted(dataset.corpus) if d not in judged][:200]
        dataset = BeirDataset(
            dataset.name + "-quick",
            {d: dataset.corpus[d] for d in sorted(judged) + extra},
            {q: dataset.queries[q] for q in qids},
            {q: dict(dataset.qrels.get(q, {})) for q in qids},
            dataset.split,
        )
    work = Path(tempfile.mkdtemp(prefix="askdocs-peer-", dir=args.workdir))
    report: dict[str, Any] = {
        "machine": machine(),
        "dataset": dataset.name,
        "split": args.split,
        "queries": len(dataset.queries),
        "passages": len(dataset.corpus),
    }
    try:
        started = time.perf_counter()
        index = EvalIndex.open(dataset, settings, embedder, settings.data_dir / "eval" / "index")
        stored = stored_vectors(index, COLLECTION)
        ids = tuple(sorted(dataset.corpus))
        judged = {d for grades in dataset.qrels.values() for d, g in grades.items() if g > 0}
        corpus = Corpus(
            ids,
            tuple(stored[i][0] for i in ids),
            np.stack([stored[i][1] for i in ids]),
            tuple(n for n, i in enumerate(ids) if i not in judged),
        )
        known = dict(zip(corpus.texts, corpus.vectors))
        embeddings = langchain_embeddings(embedder, known)

        cross_encoder = args.reranker
        if cross_encoder is None and not args.no_rerank:
            folder = resolve_embedder(settings.embedder, settings.model_cache_dir)
            cross_encoder = str(stand_in_cross_encoder(Path(folder), work / "stand-in-cross-encoder"))
        report["cross_encoder"] = args.reranker or (
            "stand-in (untrained head; latency only)" if cross_encoder else None
        )

        peer = Peer.build(ids, corpus.texts, embeddings, work / "peer-chroma", cross_encoder)
        config = replace(HybridConfig.from_settings(settings), top_k=K)
        ours = HybridRetriever(index.store, embedder, index.bm25, config)
        report["build_s"] = round(time.perf_counter() - started, 1)
        print(f"indexes ready ({report['build_s']} s, load {load_average()})", file=sys.stderr, flush=True)

        def ask(retriever: HybridRetriever) -> Callable[[str], list[str]]:
            return lambda q: [h.chunk.doc_id for h in retriever.retrieve(q, COLLECTION).hits]

        report["benchmark"] = compare(dataset.queries, dataset.qrels, ask(ours), peer.search)
        if cross_encoder:
            reranker = CrossEncoderReranker(cross_encoder, "cpu")
            ours_rr = HybridRetriever(index.store, embedder, index.bm25, config, reranker)
            asked = dict(sorted(dataset.queries.items())[: args.rerank_queries or None])
            reranked = compare(asked, dataset.qrels, ask(ours_rr), lambda q: peer.search(q, rerank=True))
            if not args.reranker:  # an untrained head ranks at random: only its time means something
                for side in ("askdocs", "peer"):
                    reranked[side]["ndcg@10"] = None
            report["benchmark_rerank"] = reranked
        index.close()

        if args.pad and args.pad > len(corpus.ids):
            report["padded"] = padded_run(
                args.pad, corpus, dataset, embeddings, settings, config, embedder, work
            )
        report["rss_mb"] = rss_mb()
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def padded_run(
    total: int,
    corpus: Corpus,
    dataset: Any,
    embeddings: Any,
    settings: Any,
    config: Any,
    embedder: Any,
    work: Path,
) -> dict[str, Any]:
    """Both sides over the benchmark plus padding up to ``total`` chunks (see the module notes)."""
    from askdocs.types import Chunk
    from retrieval.bm25 import BM25Directory
    from retrieval.hybrid import HybridRetriever
    from retrieval.stores import store_from_settings

    collection = "padded"
    started = time.perf_counter()
    extra = list(padding(corpus, total - len(corpus.ids)))
    ids = list(corpus.ids) + [e[0] for e in extra]
    texts = list(corpus.texts) + [e[1] for e in extra]
    vectors = np.concatenate([corpus.vectors, np.stack([e[2] for e in extra])]).astype(np.float32)
    del extra
    embeddings_known = dict(zip(texts, vectors))
    peer_embeddings = langchain_embeddings(embedder, embeddings_known)

    ours_settings = settings.model_copy(update={"data_dir": work / "ours-padded", "chroma_mode": "embedded"})
    store = store_from_settings(ours_settings)
    store.create_collection(collection)
    for start in range(0, len(ids), 5000):
        part = range(start, min(start + 5000, len(ids)))
        store.upsert(
            [Chunk(ids[i], ids[i], ids[i], collection, "v1", 0, texts[i], 1, 1) for i in part],
            vectors[start : start + len(part)],
        )
    bm25 = BM25Directory(ours_settings.bm25_dir)
    bm25.publish(collection, ((i, i, t) for i, t in zip(ids, texts)))
    ours_build = time.perf_counter() - started
    print(f"askdocs padded index ready ({ours_build:.0f} s)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    peer = Peer.build(ids, texts, peer_embeddings, work / "peer-padded", None)
    peer_build = time.perf_counter() - started
    print(f"peer padded index ready ({peer_build:.0f} s)", file=sys.stderr, flush=True)
    ours = HybridRetriever(store, embedder, bm25, config)
    try:
        result = compare(
            dataset.queries,
            dataset.qrels,
            lambda q: [h.chunk.doc_id for h in ours.retrieve(q, collection).hits],
            peer.search,
        )
    finally:
        store.close()
    result.update(
        {"chunks": len(ids), "build_s": {"askdocs": round(ours_build, 1), "peer": round(peer_build, 1)}}
    )
    return result


def table(report: dict[str, Any]) -> str:
    lines = [
        "| run | retriever | nDCG@10 | p50 ms | p95 ms | p50 askdocs ÷ peer |",
        "|---|---|---|---|---|---|",
    ]
    runs = [
        ("benchmark", f"FAQ {report['split']} ({report['passages']:,} passages)"),
        ("benchmark_rerank", "+ cross-encoder"),
        ("padded", "padded"),
    ]
    for key, label in runs:
        if key not in report:
            continue
        r = report[key]
        if key == "padded":
            label = f"padded to {r['chunks']:,} chunks"
        for side, name in (("askdocs", "askdocs hybrid"), ("peer", "LangChain Ensemble 0.5/0.5")):
            ndcg = "n/a" if r[side]["ndcg@10"] is None else f"{r[side]['ndcg@10']:.4f}"
            ratio = f"{r['p50_ratio_askdocs_over_peer']:.3f}" if side == "askdocs" else ""
            lines.append(
                f"| {label} | {name} | {ndcg} | {r[side]['latency_ms']['p50']:.1f} | "
                f"{r[side]['latency_ms']['p95']:.1f} | {ratio} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--beir", type=Path, help="the Python-FAQ benchmark folder (default: built under DATA_DIR)"
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--pad", type=int, default=100_000, help="chunks in the padded run (0: skip it)")
    parser.add_argument(
        "--reranker", help="a CrossEncoder id or folder for both sides (default: the stand-in)"
    )
    parser.add_argument("--no-rerank", action="store_true", help="skip the cross-encoder rows")
    parser.add_argument(
        "--rerank-queries",
        type=int,
        default=0,
        help="only the first N queries with the cross-encoder (0: all; --quick: 3)",
    )
    parser.add_argument(
        "--cached-query-vectors",
        action="store_true",
        help="embed every query once ahead, so both sides are timed without query embedding",
    )
    parser.add_argument("--quick", action="store_true", help="10 queries, ~210 passages, pad to 2,000 (CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "peer.json")
    parser.add_argument("--workdir", type=Path, help="where the temporary indexes go")
    args = parser.parse_args(argv)
    if args.quick and args.pad == parser.get_default("pad"):
        args.pad = 2000
    if args.quick and not args.rerank_queries:
        args.rerank_queries = 3  # a cross-encoder on CPU costs seconds a query: CI checks the plumbing

    from askdocs.quiet import quiet_libraries

    quiet_libraries()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # langchain-community's sunset notice
    info = machine()
    print(f"$ python -m bench.peer {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(
        f"{info['date_utc']}, {info['cpu']}, {info['cpus']} CPUs, load {info['load_average']}, git {info['git']}",
        flush=True,
    )
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(
        f"cross-encoder: {report.get('cross_encoder')}; load at the end {load_average()}; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
