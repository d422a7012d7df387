"""The ingestion pipeline: validate, parse, chunk, embed, store, re-index.

Order of writes, chosen so a crash never leaves a document unsearchable:
new chunks are upserted first, then the catalogue record naming the new
version is written (the commit point), then the old version's chunks are
deleted, and last the BM25 index is rebuilt from the store and swapped in.
A crash at any point leaves the old or the new version's chunks complete
and named by the catalogue; the leftovers (the other version's chunks, a
stale BM25) are removed by ``retrieval.consistency.repair``, which the app
and the CLI run at start-up. Running the same ingestion again also finishes
the job, because every id is content-addressed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from askdocs.settings import Settings
from askdocs.types import DocumentRecord
from ingest.chunking import Chunker, TokenChunker, make_chunks
from ingest.ids import content_version, document_id
from ingest.sandbox import parse_untrusted
from ingest.validate import RefusedInput, sanitize_source
from retrieval.bm25 import BM25Directory
from retrieval.consistency import rebuild_bm25
from retrieval.embedder import Embedder
from retrieval.store import ChromaStore, check_collection_name

Status = Literal["ingested", "updated", "unchanged", "refused", "deleted", "not found"]


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one file; ``detail`` is the user-facing reason or summary."""

    source: str
    status: Status
    detail: str
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return f"{self.status:>9}  {self.source}  ({self.detail})"


class Ingestor:
    """Puts documents into one store and keeps its BM25 index in step.

    Example:
        >>> ingestor = Ingestor(store, embedder, BM25Directory(settings.bm25_dir), settings)  # doctest: +SKIP
        >>> [o.line() for o in ingestor.ingest_paths([Path("sample_docs")])]  # doctest: +SKIP
    """

    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        bm25: BM25Directory,
        settings: Settings,
        chunker: Chunker | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25
        self.settings = settings
        self.chunker = chunker or TokenChunker(
            embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens
        )

    # -- one document --------------------------------------------------------------------------
    def ingest_bytes(self, name: str, data: bytes, collection: str) -> IngestOutcome:
        """Ingest one upload; refusals come back as an outcome, never as an exception.

        ``name`` is the upload's file name, or a path relative to an ingested folder.
        """
        started = time.perf_counter()
        source = sanitize_source(name)
        doc_id = document_id(collection, source)
        version = content_version(data)
        known = self.store.document(collection, doc_id)
        if known is not None and known.version == version:  # checked before parsing: re-runs cost a hash
            return IngestOutcome(
                source, "unchanged", "same content as stored", known.pages, known.chunks,
                time.perf_counter() - started,
            )
        try:
            upload = parse_untrusted(name, data, self.settings)
        except RefusedInput as refused:
            return IngestOutcome(source, "refused", refused.reason, seconds=time.perf_counter() - started)
        pieces = self.chunker.split(upload.document)
        if not pieces:
            return IngestOutcome(source, "refused", "no text to index", seconds=time.perf_counter() - started)
        chunks = make_chunks(pieces, doc_id=doc_id, source=source, collection=collection, version=version)
        vectors = self.embedder.embed([c.text for c in chunks])
        self.store.upsert(chunks, vectors)
        pages = len(upload.document.pages)
        self.store.put_document(  # the commit point: from here on the new version is the document
            DocumentRecord(
                doc_id=doc_id, source=source, collection=collection, version=version, pages=pages,
                chunks=len(chunks), size_bytes=len(data), ingested_at=time.time(), kind=upload.kind,
            )
        )
        self.store.delete_document(collection, doc_id, keep_version=version)
        status: Status = "updated" if known is not None else "ingested"
        return IngestOutcome(
            source, status, f"{pages} pages, {len(chunks)} chunks", pages, len(chunks),
            time.perf_counter() - started,
        )

    def delete(self, collection: str, name_or_id: str) -> IngestOutcome:
        for record in self.store.documents(collection):
            if name_or_id in (record.source, record.doc_id):
                self.store.delete_document(collection, record.doc_id)
                self.rebuild_bm25(collection)
                return IngestOutcome(record.source, "deleted", f"{record.chunks} chunks removed")
        return IngestOutcome(name_or_id, "not found", f"no such document in collection {collection!r}")

    # -- many ----------------------------------------------------------------------------------
    def ingest_paths(
        self,
        paths: Iterable[Path],
        collection: str | None = None,
        on_outcome: Callable[[IngestOutcome], None] | None = None,
        progress: bool = False,
    ) -> list[IngestOutcome]:
        """Ingest files and folders (recursively), then rebuild BM25 once."""
        collection = check_collection_name(collection or self.settings.default_collection)
        self.store.create_collection(collection)
        files = list(_expand(paths))
        outcomes = []
        iterator = files
        if progress:
            from tqdm import tqdm

            iterator = tqdm(files, desc="ingesting", unit="file", leave=False)
        for name, path in iterator:
            outcome = self._ingest_file(name, path, collection)
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        if any(o.status in ("ingested", "updated") for o in outcomes):
            self.rebuild_bm25(collection)
        else:
            self.sync_bm25(collection)
        return outcomes

    def _ingest_file(self, name: str, path: Path, collection: str) -> IngestOutcome:
        try:
            size = path.stat().st_size
            if size > self.settings.max_upload_bytes:
                limit = self.settings.max_upload_mb
                return IngestOutcome(
                    name, "refused", f"too large: {size / 2**20:.1f} MB, the limit is {limit:g} MB"
                )
            data = path.read_bytes()
        except OSError as error:
            return IngestOutcome(name, "refused", f"cannot read the file: {error.strerror or error}")
        return self.ingest_bytes(name, data, collection)

    # -- BM25 ----------------------------------------------------------------------------------
    def rebuild_bm25(self, collection: str) -> int:
        return rebuild_bm25(self.store, self.bm25, collection)

    def sync_bm25(self, collection: str) -> None:
        """Rebuild BM25 when it does not hold exactly what the store holds."""
        index = self.bm25.get(collection)
        stored = self.store.count(collection)
        if len(index) != stored or index.version == 0:
            self.rebuild_bm25(collection)


def _expand(paths: Iterable[Path]) -> Iterable[tuple[str, Path]]:
    """Files under ``paths`` with their source names (relative to the folder given)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                yield child.relative_to(path).as_posix(), child
        else:
            yield path.name, path
