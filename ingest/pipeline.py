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

Each file goes through two steps. ``_prepare`` reads, hashes, parses (in the
sandbox child) and chunks it; it writes nothing. ``_write`` embeds it and
makes the writes above. When several files are ingested together, one
thread prepares up to ``ingest_prefetch`` files ahead while the caller's
thread embeds and writes, one document at a time and in file order, so the
parse child and the tokenizer work while torch embeds. ``_write`` reads the
catalogue record again before writing, so a file's outcome is what it would
have been without the look-ahead (a second file with the same name in one
run sees the first one's record). BM25 is rebuilt once per run, at the end.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from askdocs.settings import Settings
from askdocs.types import Chunk, DocumentRecord
from ingest.chunking import Chunker, TokenChunker, make_chunks
from ingest.ids import content_version, document_id
from ingest.sandbox import parse_untrusted
from ingest.validate import RefusedInput, sanitize_source
from retrieval.bm25 import BM25Directory
from retrieval.consistency import rebuild_bm25
from retrieval.embedders import Embedder
from retrieval.stores import VectorStore, check_collection_name

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


@dataclass(frozen=True)
class _Prepared:
    """One file after ``_prepare``: its chunks, or why it is refused, or (``data``) unchanged when looked at."""

    name: str  # as given: the parse child guesses the kind of a text file from it
    source: str
    collection: str
    doc_id: str = ""  # empty: refused before it was read
    version: str = ""
    size: int = 0
    seconds: float = 0.0
    refusal: str = ""
    data: bytes | None = None  # kept only when the parse was skipped as unchanged
    kind: str = ""
    pages: int = 0
    chunks: tuple[Chunk, ...] = ()


class Ingestor:
    """Puts documents into one store and keeps its BM25 index in step.

    Example:
        >>> ingestor = Ingestor(store, embedder, BM25Directory(settings.bm25_dir), settings)  # doctest: +SKIP
        >>> [o.line() for o in ingestor.ingest_paths([Path("sample_docs")])]  # doctest: +SKIP
    """

    def __init__(
        self,
        store: VectorStore,
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
        return self._write(self._prepare(name, data, collection))

    def delete(self, collection: str, name_or_id: str) -> IngestOutcome:
        for record in self.store.documents(collection):
            if name_or_id in (record.source, record.doc_id):
                self.store.delete_document(collection, record.doc_id)
                self.rebuild_bm25(collection)
                return IngestOutcome(record.source, "deleted", f"{record.chunks} chunks removed")
        return IngestOutcome(name_or_id, "not found", f"no such document in collection {collection!r}")

    def _prepare(self, name: str, source: bytes | Path, collection: str) -> _Prepared:
        """Read, hash, parse and chunk one file; it writes nothing, so it may run ahead of the writes."""
        started = time.perf_counter()
        if isinstance(source, Path):
            data = _read(source, self.settings)
            if isinstance(data, str):
                return _Prepared(name, name, collection, seconds=time.perf_counter() - started, refusal=data)
        else:
            data = source
        safe = sanitize_source(name)
        doc_id, version = document_id(collection, safe), content_version(data)
        done = lambda **more: _Prepared(  # noqa: E731
            name, safe, collection, doc_id, version, len(data), time.perf_counter() - started, **more
        )
        known = self.store.document(collection, doc_id)
        if known is not None and known.version == version:  # checked before parsing: re-runs cost a hash
            return done(data=data)
        try:
            upload = parse_untrusted(name, data, self.settings)
        except RefusedInput as refused:
            return done(refusal=refused.reason)
        pieces = self.chunker.split(upload.document)
        chunks = make_chunks(pieces, doc_id=doc_id, source=safe, collection=collection, version=version)
        return done(
            refusal="" if chunks else "no text to index",
            kind=upload.kind,
            pages=len(upload.document.pages),
            chunks=tuple(chunks),
        )

    def _write(self, ready: _Prepared) -> IngestOutcome:
        """Embed one prepared file and write it, in the order the module docstring gives."""
        started = time.perf_counter()

        def outcome(status: Status, detail: str, pages: int = 0, chunks: int = 0) -> IngestOutcome:
            # the file's own work (prepare + write), not the time it waited in the look-ahead queue
            seconds = ready.seconds + time.perf_counter() - started
            return IngestOutcome(ready.source, status, detail, pages, chunks, seconds)

        if not ready.doc_id:
            return outcome("refused", ready.refusal)
        known = self.store.document(
            ready.collection, ready.doc_id
        )  # again: an earlier file may have written it
        if known is not None and known.version == ready.version:
            return outcome("unchanged", "same content as stored", known.pages, known.chunks)
        if ready.data is not None:  # unchanged when prepared, changed since: prepare it after all
            return self._write(self._prepare(ready.name, ready.data, ready.collection))
        if ready.refusal:
            return outcome("refused", ready.refusal)
        vectors = self.embedder.embed([c.text for c in ready.chunks])
        self.store.upsert(ready.chunks, vectors)
        self.store.put_document(  # the commit point: from here on the new version is the document
            DocumentRecord(
                doc_id=ready.doc_id,
                source=ready.source,
                collection=ready.collection,
                version=ready.version,
                pages=ready.pages,
                chunks=len(ready.chunks),
                size_bytes=ready.size,
                ingested_at=time.time(),
                kind=ready.kind,
            )
        )
        self.store.delete_document(ready.collection, ready.doc_id, keep_version=ready.version)
        status: Status = "updated" if known is not None else "ingested"
        return outcome(
            status, f"{ready.pages} pages, {len(ready.chunks)} chunks", ready.pages, len(ready.chunks)
        )

    # -- many ----------------------------------------------------------------------------------
    def ingest_many(
        self, files: Iterable[tuple[str, bytes | Path]], collection: str
    ) -> Iterator[IngestOutcome]:
        """Ingest (name, bytes or path) pairs, yielding each outcome in order; BM25 is left to the caller.

        Up to ``settings.ingest_prefetch`` files are read, parsed and chunked on a helper thread ahead
        of the one being embedded and written here. ``files`` is pulled lazily, that many ahead.
        """
        todo = iter(files)
        ahead = self.settings.ingest_prefetch
        if ahead == 0:
            for name, source in todo:
                yield self._write(self._prepare(name, source, collection))
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="askdocs-prepare")
        try:
            queued: deque[Future[_Prepared]] = deque()

            def submit_next() -> None:
                item = next(todo, None)
                if item is not None:
                    queued.append(pool.submit(self._prepare, item[0], item[1], collection))

            for _ in range(ahead + 1):
                submit_next()
            while queued:
                ready = queued.popleft().result()  # an unexpected error raises here, in file order
                submit_next()
                yield self._write(ready)
        finally:  # also on an exception or an abandoned iteration: nothing new starts, the current parse ends
            pool.shutdown(wait=True, cancel_futures=True)

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
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(files), desc="ingesting", unit="file", leave=False)
        try:
            for outcome in self.ingest_many(files, collection):
                outcomes.append(outcome)
                if bar is not None:
                    bar.update()
                if on_outcome:
                    on_outcome(outcome)
        finally:
            if bar is not None:
                bar.close()
        if any(o.status in ("ingested", "updated") for o in outcomes):
            self.rebuild_bm25(collection)
        else:
            self.sync_bm25(collection)
        return outcomes

    # -- BM25 ----------------------------------------------------------------------------------
    def rebuild_bm25(self, collection: str) -> int:
        return rebuild_bm25(self.store, self.bm25, collection)

    def sync_bm25(self, collection: str) -> None:
        """Rebuild BM25 when it does not hold exactly what the store holds."""
        index = self.bm25.get(collection)
        stored = self.store.count(collection)
        if len(index) != stored or index.version == 0:
            self.rebuild_bm25(collection)


def _read(path: Path, settings: Settings) -> bytes | str:
    """The file's bytes, or why it is refused (too large, unreadable), checked before reading it."""
    try:
        size = path.stat().st_size
        if size > settings.max_upload_bytes:
            return f"too large: {size / 2**20:.1f} MB, the limit is {settings.max_upload_mb:g} MB"
        return path.read_bytes()
    except OSError as error:
        return f"cannot read the file: {error.strerror or error}"


def _expand(paths: Iterable[Path]) -> Iterable[tuple[str, Path]]:
    """Files under ``paths`` with their source names (relative to the folder given)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                yield child.relative_to(path).as_posix(), child
        else:
            yield path.name, path
