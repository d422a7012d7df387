"""Scale: hybrid retrieval latency, resident memory and add-one-document time at 10k to 1M chunks.

    python -m bench.scale [--sizes 10000,100000,1000000] [--queries 48] [--out FILE.json]
    python -m bench.scale --quick          # 200 and 1,000 chunks: the CI version (~1 min)

Method, for each size N:

1. **Corpus: synthetic text and vectors grown from real chunks.** The 95 chunks the app makes of
   ``sample_docs`` (parsed and chunked by the product's own pipeline) are embedded for real; they are
   the *anchors*. Chunk i picks an anchor, and its text is ~100 words drawn 70 % from that anchor's
   words (so text and vector are about the same thing) and 30 % from the anchors' pooled word
   frequencies (Zipf-like), plus 3 rare made-up words from a pool of N/10 (so the vocabulary grows
   with the corpus, as names and identifiers do in real text). Its vector is the anchor's vector plus
   Gaussian noise (expected cosine to the anchor ≈ 0.85), renormalised. The real texts' small
   vocabulary makes BM25's posting lists longer than a real corpus of the same size would have,
   so BM25 times here are pessimistic.
2. **Build, bypassing the embedder**: the chunks go straight into askdocs's own store
   (``VectorStore.upsert`` of 5,000 chunks a call) and into ``BM25Directory.publish`` — the product's
   storage, not a copy.
3. **Serve, in a fresh child process** (so its memory is what a server holding that index needs, not
   the build's): it opens the store, BM25 and the real MiniLM embedder as the app does, runs
   ``HybridRetriever.retrieve`` (the settings' defaults, k = 10, no reranker) for the sample questions
   and their rewordings (``bench/cache_pairs.jsonl``), after one untimed warm-up, and reads its
   VmRSS / VmHWM.
4. **Add one document**: the child writes a small text file holding a made-up word and ingests it with
   the real ``Ingestor.ingest_paths`` (sandboxed parse, chunk, embed, upsert, BM25 rebuild from the
   store), then searches for the word. "Searchable" = the new document is among the hybrid top 10
   and BM25 ranked it first (the clock runs from the ingest call to that answer). The BM25 rebuild inside the
   ingest is timed on its own.

Ratios are against the smallest size measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.types import Chunk
from bench.measure import load_average, machine, percentiles, rss_mb

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = "scale"
CHUNKS_PER_DOC = 20
WORDS = 100
NOISE = 0.0316  # per-dimension sigma: expected cosine to the anchor 1 / sqrt(1 + 384 sigma^2) ≈ 0.85
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Anchors:
    texts: tuple[str, ...]
    vectors: np.ndarray  # (n, dim), L2-normalised


def sample_queries() -> list[str]:
    """The 12 sample questions and their 36 rewordings: real questions about the anchors' topics."""
    questions = [json.loads(line)["question"] for line in (ROOT / "sample_docs" / "questions.jsonl").open()]
    pairs = [json.loads(line) for line in (ROOT / "bench" / "cache_pairs.jsonl").open() if line.strip()]
    return questions + [text for pair in pairs for text in pair["same"]]


class SyntheticCorpus:
    """Deterministic synthetic chunks around real anchors (see the module notes)."""

    def __init__(self, anchors: Anchors, size: int, seed: int = 0) -> None:
        self.anchors = anchors
        self.size = size
        self.seed = seed
        self._own = [np.array(_WORD.findall(t.lower()) or ["empty"]) for t in anchors.texts]
        counts = Counter(w for words in self._own for w in words)
        self._pool = np.array(list(counts))
        self._weights = np.array(list(counts.values()), dtype=float) / sum(counts.values())
        self._rare = max(10, size // 10)

    def batches(self, batch: int = 5000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        rng = np.random.default_rng(self.seed)
        dim = self.anchors.vectors.shape[1]
        for start in range(0, self.size, batch):
            n = min(batch, self.size - start)
            picks = rng.integers(len(self._own), size=n)
            vectors = self.anchors.vectors[picks] + rng.normal(0, NOISE, (n, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            common = rng.choice(self._pool, size=(n, WORDS * 3 // 10), p=self._weights)
            rare = rng.integers(self._rare, size=(n, 3))
            chunks = []
            for row, anchor in enumerate(picks):
                own = rng.choice(self._own[anchor], size=WORDS * 7 // 10)
                words = [*own, *common[row], *(f"zz{r:x}q" for r in rare[row])]
                rng.shuffle(words)
                i = start + row
                chunks.append(
                    Chunk(
                        f"c{i}",
                        f"syn-{i // CHUNKS_PER_DOC}",
                        f"synthetic-{i // CHUNKS_PER_DOC}.txt",
                        COLLECTION,
                        "v1",
                        i % CHUNKS_PER_DOC,
                        " ".join(words),
                        1,
                        1,
                    )
                )
            yield chunks, vectors.astype(np.float32)


def real_anchors(settings: Any, embedder: Any) -> Anchors:
    from eval.datasets.sample_smoke import SAMPLE_DOCS, sample_chunks

    chunks = sample_chunks(SAMPLE_DOCS / "documents", settings, embedder.count_tokens)
    texts = tuple(c.text for c in chunks)
    return Anchors(texts, np.asarray(embedder.embed(list(texts)), dtype=np.float32))


def build(folder: Path, corpus: SyntheticCorpus, settings: Any) -> dict[str, float]:
    """Write the corpus into askdocs's store and BM25 under ``folder``; build times in seconds."""
    from retrieval.bm25 import BM25Directory
    from retrieval.stores import store_from_settings

    settings = settings.model_copy(update={"data_dir": folder, "chroma_mode": "embedded"})
    store = store_from_settings(settings)
    texts: list[tuple[str, str, str]] = []
    try:
        started = time.perf_counter()
        store.create_collection(COLLECTION)
        # 5,000 chunks a call, each one Chroma upsert (retrieval.stores.chroma's _WRITE_PAGE): 500-row
        # calls made 100k chunks take ~8 minutes here. Same rows either way.
        for chunks, vectors in corpus.batches():
            store.upsert(chunks, vectors)
            texts += [(c.chunk_id, c.doc_id, c.text) for c in chunks]
        chroma_s = time.perf_counter() - started
    finally:
        store.close()
    started = time.perf_counter()
    BM25Directory(settings.bm25_dir).publish(COLLECTION, texts)
    return {"chroma_build_s": round(chroma_s, 1), "bm25_build_s": round(time.perf_counter() - started, 1)}


def serve(folder: Path, queries: Sequence[str], breakdown: bool) -> dict[str, Any]:
    """The child's side: open the index as the app does, time queries, add one document (see notes)."""
    from dataclasses import replace

    from askdocs.settings import load_settings
    from ingest.pipeline import Ingestor
    from retrieval.consistency import rebuild_bm25
    from retrieval.factory import open_retrieval

    settings = load_settings(data_dir=folder, chroma_mode="embedded")
    before = rss_mb()
    stack = open_retrieval(settings)
    try:
        retriever = stack.retriever
        retriever.config = replace(retriever.config, top_k=10)
        retriever.retrieve(queries[0], COLLECTION)  # warm-up: first-call costs are not latency
        opened = rss_mb()
        latencies: list[float] = []
        stages: dict[str, list[float]] = {}
        for query in queries:
            started = time.perf_counter()
            result = retriever.retrieve(query, COLLECTION)
            latencies.append(1000 * (time.perf_counter() - started))
            for stage, seconds in result.timings.items():
                stages.setdefault(stage, []).append(1000 * seconds)
        served = rss_mb()

        rebuilds: list[float] = []

        class TimedIngestor(Ingestor):
            def rebuild_bm25(self, collection: str) -> int:
                started = time.perf_counter()
                version = super().rebuild_bm25(collection)
                rebuilds.append(time.perf_counter() - started)
                return version

        # A name only BM25 can know (MiniLM has never seen it), written as code so the query gets BM25's
        # full weight: with the prose weight (0.05) a BM25-only match cannot reach the top 10 (evaluation.md).
        word = "quokka_flux"
        new = folder / "added" / "new-note.txt"
        new.parent.mkdir(exist_ok=True)
        new.write_text(f"The {word} setting controls how the scheduler batches incoming requests.\n")
        ingestor = TimedIngestor(stack.store, stack.embedder, stack.bm25, settings)
        started = time.perf_counter()
        outcome = ingestor.ingest_paths([new], COLLECTION)[0]
        found = retriever.retrieve(f"What does {word} control?", COLLECTION)
        searchable_s = time.perf_counter() - started
        mine = [h for h in found.hits if h.chunk.source == "new-note.txt"]
        result_ok = bool(mine and any(s.stage == "bm25" and s.rank == 1 for s in mine[0].stages))
        out: dict[str, Any] = {
            "chunks": stack.store.count(COLLECTION),
            "latency_ms": percentiles(latencies),
            "stage_p50_ms": {k: round(float(np.median(v)), 2) for k, v in stages.items()},
            "rss_before_open_mb": before["rss_mb"],
            "rss_opened_mb": opened["rss_mb"],
            "rss_serving_mb": served["rss_mb"],
            "ingest_status": outcome.status,
            "add_one_searchable_s": round(searchable_s, 2),
            "add_one_found": result_ok,
            "bm25_rebuild_s": round(rebuilds[0], 2) if rebuilds else None,
            "peak_rss_mb": rss_mb()["peak_rss_mb"],
            "load_average": load_average(),
        }
        if breakdown:  # where a rebuild's time goes, and what a rebuild from every text costs
            started = time.perf_counter()
            refs = list(stack.store.iter_chunk_refs(COLLECTION))
            refs_s = time.perf_counter() - started
            started = time.perf_counter()
            rows = [(c.chunk_id, c.doc_id, c.text) for c in stack.store.iter_chunks(COLLECTION)]
            texts_s = time.perf_counter() - started
            started = time.perf_counter()
            stack.bm25.publish(COLLECTION, rows)
            out["rebuild_breakdown_s"] = {
                "read_refs": round(refs_s, 2),
                "read_texts": round(texts_s, 2),
                "full_tokenize_index_save": round(time.perf_counter() - started, 2),
                "refs": len(refs),
            }
            started = time.perf_counter()
            rebuild_bm25(stack.store, stack.bm25, COLLECTION)
            out["rebuild_again_s"] = round(time.perf_counter() - started, 2)
        return out
    finally:
        stack.close()


def serve_bm25(folder: Path, queries: Sequence[str]) -> dict[str, Any]:
    """``--bm25-only``'s child: the BM25 side alone at a size whose Chroma build does not fit the session."""
    from retrieval.bm25 import BM25Directory, StoredChunks

    before = rss_mb()
    directory = BM25Directory(folder / "bm25")
    index = directory.get(COLLECTION)
    opened = rss_mb()
    index.search(queries[0], 100)
    latencies = []
    for query in queries:
        started = time.perf_counter()
        index.search(query, 100)  # the retriever's BM25 stage: 100 candidates
        latencies.append(1000 * (time.perf_counter() - started))
    ids = list(index.chunk_ids)
    started = time.perf_counter()
    added = directory.publish(
        COLLECTION,
        StoredChunks(
            [*ids, "new"], lambda wanted: {"new": ("new-doc", "The quokka_flux setting controls batching.")}
        ),
    )
    rebuild_s = time.perf_counter() - started
    found = [h.chunk_id for h in added.search("quokka_flux", 1)] == ["new"]
    return {
        "chunks": len(added),
        "bm25_latency_ms": percentiles(latencies),
        "rss_before_open_mb": before["rss_mb"],
        "rss_bm25_opened_mb": opened["rss_mb"],
        "bm25_rebuild_s": round(rebuild_s, 2),
        "add_one_found": found,
        "peak_rss_mb": rss_mb()["peak_rss_mb"],
        "load_average": load_average(),
    }


def measure_bm25(size: int, anchors: Anchors, queries: Sequence[str], work: Path) -> dict[str, Any]:
    from retrieval.bm25 import BM25Directory

    folder = work / f"bm25-n{size}"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    rows = (
        (c.chunk_id, c.doc_id, c.text)
        for chunks, _ in SyntheticCorpus(anchors, size).batches()
        for c in chunks
    )
    BM25Directory(folder / "bm25").publish(COLLECTION, rows)
    build_s = time.perf_counter() - started
    (folder / "queries.json").write_text(json.dumps(list(queries)))
    child = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--serve-bm25", str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the BM25 child failed at {size} chunks:\n{child.stderr[-3000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "size": size,
        "bm25_build_s": round(build_s, 1),
        **json.loads(child.stdout.strip().splitlines()[-1]),
    }


def measure(
    size: int, anchors: Anchors, settings: Any, queries: Sequence[str], work: Path, breakdown_max: int
) -> dict[str, Any]:
    folder = work / f"n{size}"
    shutil.rmtree(folder, ignore_errors=True)
    built = build(folder, SyntheticCorpus(anchors, size), settings)
    (folder / "queries.json").write_text(json.dumps(list(queries)))
    child = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--serve", str(folder)]
        + (["--breakdown"] if size <= breakdown_max else []),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the serving child failed at {size} chunks:\n{child.stderr[-3000:]}")
    served = json.loads(child.stdout.strip().splitlines()[-1])
    shutil.rmtree(folder, ignore_errors=True)
    return {"size": size, **built, **served}


def table(rows: Sequence[dict[str, Any]]) -> str:
    base = rows[0]
    lines = [
        "| chunks | hybrid p50 / p95 ms | ×p50 of smallest | bm25 / embed / dense p50 ms | RSS serving MB | "
        "peak RSS MB (incl. add) | BM25 rebuild s | add one → searchable s | build Chroma / BM25 s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["stage_p50_ms"]
        lines.append(
            f"| {r['chunks']:,} | {r['latency_ms']['p50']:.1f} / {r['latency_ms']['p95']:.1f} | "
            f"{r['latency_ms']['p50'] / base['latency_ms']['p50']:.2f} | "
            f"{s.get('bm25', 0):.1f} / {s.get('embed_query', 0):.1f} / {s.get('dense', 0):.1f} | "
            f"{r['rss_serving_mb']:,.0f} | {r['peak_rss_mb']:,.0f} | {r['bm25_rebuild_s']} | "
            f"{r['add_one_searchable_s']}{'' if r['add_one_found'] else ' (NOT FOUND)'} | "
            f"{r['chroma_build_s']} / {r['bm25_build_s']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 chunks, 12 queries (CI)")
    parser.add_argument("--queries", type=int, default=48, help="timed queries per size (at most 48)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scale.json")
    parser.add_argument("--workdir", type=Path, help="where the indexes are built (default: a temp folder)")
    parser.add_argument(
        "--breakdown-max",
        type=int,
        default=200_000,
        help="sizes up to this also time a rebuild's parts (costs two more rebuilds)",
    )
    parser.add_argument(
        "--bm25-only",
        action="store_true",
        help="only the BM25 side (build, query, memory, add one): for sizes whose Chroma build is too long",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the child's entry point
    parser.add_argument("--serve-bm25", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--breakdown", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from askdocs.quiet import quiet_libraries

    quiet_libraries()
    if args.serve_bm25:
        queries = json.loads((args.serve_bm25 / "queries.json").read_text())
        print(json.dumps(serve_bm25(args.serve_bm25, queries)))
        return 0
    if args.serve:
        queries = json.loads((args.serve / "queries.json").read_text())
        print(json.dumps(serve(args.serve, queries, args.breakdown)))
        return 0

    from askdocs.settings import load_settings
    from retrieval.embedders import embedder_from_settings

    sizes = [200, 1000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    queries = sample_queries()[: 12 if args.quick else args.queries]
    settings = load_settings()
    info = machine()
    print(f"$ python -m bench.scale {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(
        f"{info['date_utc']}, {info['cpu']}, {info['cpus']} CPUs, load {info['load_average']}, git {info['git']}",
        flush=True,
    )
    anchors = real_anchors(settings, embedder_from_settings(settings))
    rows = []
    with tempfile.TemporaryDirectory(prefix="askdocs-scale-", dir=args.workdir) as work:
        for size in sizes:
            started = time.perf_counter()
            if args.bm25_only:
                rows.append(measure_bm25(size, anchors, queries, Path(work)))
            else:
                rows.append(measure(size, anchors, settings, queries, Path(work), args.breakdown_max))
            print(
                f"{size:,} chunks done in {time.perf_counter() - started:.0f} s (load {load_average()}): "
                f"{json.dumps(rows[-1])}",
                flush=True,
            )
    report = {"machine": info, "anchors": len(anchors.texts), "queries": len(queries), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    if not args.bm25_only:
        print(table(rows))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
