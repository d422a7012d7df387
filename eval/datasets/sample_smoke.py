"""The smoke set: our own ``sample_docs``, chunked as the app chunks them, with their questions.

``python -m eval.datasets.sample_smoke --out DIR``

Design choices:

- The corpus is what ``ingest.pipeline.Ingestor`` stores for these files: the
  same parse path (``parse_untrusted``, i.e. validation and the sandboxed
  loaders), the same ``TokenChunker`` on the embedder's own token counts with
  the configured chunk size and overlap, the same content-addressed chunk ids.
  So qrels name chunk ids the app really holds, and a run against the app's
  own index is scored without any mapping. Other chunk settings give another
  corpus; ``provenance.json`` records the ones used.
- A chunk is relevant when it comes from the question's source, covers its
  page, and contains the question's evidence (whitespace normalised). Several
  chunks can qualify, thanks to the overlap; all of them count.
- Only a ``test`` split: twelve questions are for catching regressions, far
  too few to tune anything on.
- The unanswerable questions are copied as ``unanswerable.jsonl`` (BEIR query
  rows, no qrels) for measuring abstention.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askdocs.settings import Settings, load_settings
from askdocs.types import Chunk
from eval.datasets import Passage, Query, write_beir
from ingest.chunking import TokenChunker, make_chunks
from ingest.ids import content_version, document_id
from ingest.sandbox import parse_untrusted
from ingest.validate import sanitize_source

BUILDER_VERSION = 1
SAMPLE_DOCS = Path(__file__).resolve().parents[2] / "sample_docs"
# A boundary-split evidence string must still be mostly in one chunk; less means the data is wrong.
MIN_PARTIAL_SHARE = 0.4


@dataclass(frozen=True)
class SmokeSet:
    corpus: tuple[Passage, ...]
    queries: tuple[Query, ...]
    qrels: tuple[tuple[str, str, int], ...]  # (query id, chunk id, 1)
    unanswerable: tuple[Query, ...]
    chunks: tuple[Chunk, ...]
    partial_matches: tuple[str, ...]  # question ids whose evidence no single chunk holds in full


def normalize(text: str) -> str:
    return " ".join(text.split())


def sample_chunks(documents: Path, settings: Settings, count_tokens: Callable[[str], int]) -> list[Chunk]:
    """The chunks ``Ingestor.ingest_paths([documents])`` would store, in source order."""
    chunker = TokenChunker(count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
    collection = settings.default_collection
    chunks: list[Chunk] = []
    for path in sorted(p for p in documents.rglob("*") if p.is_file() and not p.name.startswith(".")):
        name = path.relative_to(documents).as_posix()  # as Ingestor names files found in a folder
        data = path.read_bytes()
        source = sanitize_source(name)
        upload = parse_untrusted(name, data, settings)  # raises RefusedInput: our own samples must parse
        chunks += make_chunks(
            chunker.split(upload.document),
            doc_id=document_id(collection, source),
            source=source,
            collection=collection,
            version=content_version(data),
        )
    return chunks


def relevant_chunks(
    source: str, page: int, evidence: str, chunks: Sequence[Chunk]
) -> tuple[list[Chunk], bool]:
    """The chunks that answer a question, and whether that needed the partial-evidence fallback."""
    on_page = [c for c in chunks if c.source == source and c.page_start <= page <= c.page_end]
    wanted = normalize(evidence)
    whole = [c for c in on_page if wanted in normalize(c.text)]
    if whole:
        return whole, False

    # The evidence can straddle a chunk boundary when the overlap is shorter than it: then each side
    # holds a part, and the chunk holding the longest unbroken part is the one a reader would cite.
    def longest_part(chunk: Chunk) -> int:
        text = normalize(chunk.text)
        return (
            difflib.SequenceMatcher(None, wanted, text, autojunk=False)
            .find_longest_match(0, len(wanted), 0, len(text))
            .size
        )

    parts = {c.chunk_id: longest_part(c) for c in on_page}
    best = max(parts.values(), default=0)
    if best < MIN_PARTIAL_SHARE * len(wanted):
        raise ValueError(f"evidence not found on {source} page {page}: {evidence!r}")
    return [c for c in on_page if parts[c.chunk_id] == best], True


def build_smoke(settings: Settings, count_tokens: Callable[[str], int], root: Path = SAMPLE_DOCS) -> SmokeSet:
    """The smoke set from ``root`` (``documents/``, ``questions.jsonl``, ``unanswerable.jsonl``)."""
    chunks = sample_chunks(root / "documents", settings, count_tokens)
    queries, qrels, partial = [], [], []
    for row in _read_jsonl(root / "questions.jsonl"):
        relevant, fallback = relevant_chunks(row["source"], int(row["page"]), row["evidence"], chunks)
        if fallback:
            partial.append(row["id"])
        metadata = {key: row[key] for key in ("source", "page", "answer", "evidence")}
        queries.append(Query(row["id"], row["question"], metadata))
        qrels += [(row["id"], c.chunk_id, 1) for c in relevant]
    unanswerable = [Query(row["id"], row["question"]) for row in _read_jsonl(root / "unanswerable.jsonl")]
    # No title: the app embeds and indexes a chunk's text alone, and the eval embeds title + text.
    corpus = [Passage(c.chunk_id, "", c.text) for c in chunks]
    return SmokeSet(
        tuple(corpus), tuple(queries), tuple(qrels), tuple(unanswerable), tuple(chunks), tuple(partial)
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def build_sample_smoke(
    out: Path,
    settings: Settings | None = None,
    count_tokens: Callable[[str], int] | None = None,
    root: Path = SAMPLE_DOCS,
) -> dict[str, Any]:
    """Build the smoke set and write it to ``out``; returns the provenance.

    ``count_tokens`` defaults to the configured embedder's (loading it), as the Ingestor uses.
    """
    settings = settings or load_settings()
    if count_tokens is None:
        from retrieval.embedders import embedder_from_settings

        count_tokens = embedder_from_settings(settings).count_tokens
    smoke = build_smoke(settings, count_tokens, root)
    documents = sorted({c.source: c.version for c in smoke.chunks}.items())
    provenance = {
        "name": "sample-smoke",
        "builder": "eval.datasets.sample_smoke",
        "builder_version": BUILDER_VERSION,
        "source": {
            "documents": [{"source": s, "sha256": v} for s, v in documents],
            "questions": "sample_docs/questions.jsonl",
            "unanswerable": "sample_docs/unanswerable.jsonl",
        },
        "licence": "per document, see sample_docs/LICENSES.md",
        "chunking": {
            "embedder": settings.embedder,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        },
        "relevance": "same source, page within the chunk's pages, evidence contained (whitespace "
        "normalised); if no chunk holds all of it, the chunk(s) holding its longest part",
        "split": {"test": "all questions; too few to tune on"},
        "counts": {
            "queries": len(smoke.queries),
            "qrels_test": len(smoke.qrels),
            "corpus": len(smoke.corpus),
            "unanswerable": len(smoke.unanswerable),
            "partial_evidence_matches": list(smoke.partial_matches),
        },
    }
    write_beir(
        out,
        smoke.corpus,
        smoke.queries,
        {"test": smoke.qrels},
        provenance,
        extra_jsonl={"unanswerable.jsonl": ({"_id": q.id, "text": q.text} for q in smoke.unanswerable)},
    )
    return provenance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.datasets.sample_smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (BEIR layout)")
    args = parser.parse_args(argv)
    from askdocs.quiet import quiet_libraries

    quiet_libraries()
    counts = build_sample_smoke(args.out)["counts"]
    print(
        f"sample-smoke -> {args.out}: {counts['queries']} queries, {counts['qrels_test']} relevant chunks, "
        f"{counts['corpus']} chunks, {counts['unanswerable']} unanswerable"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
