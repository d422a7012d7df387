"""Checking that the catalogue, the chunks and BM25 agree, and repairing them when they do not.

A crash (SIGKILL, power cut, OOM kill) can stop ingestion between any two
writes. ``ingest.pipeline`` writes in this order, for one document:

1. upsert the new version's chunks (content-addressed ids, so a re-run rewrites the same rows);
2. write the catalogue record naming the new version: **the commit point**;
3. delete the chunks of every other version;
4. rebuild BM25 from the store and swap it in (``retrieval.bm25``).

Deleting a document deletes its catalogue record first, then its chunks.

The rule the repair follows: **the catalogue record is the truth.** A
document is at the version its record names; chunks of any other version,
and chunks of a document with no record, were written by an ingestion or a
deletion that did not finish, and are deleted. What each crash point leaves:

- during or after step 1: the record still names the old version (or there
  is none): the new chunks are dropped, the document stays at its old
  version (or absent). Re-running the ingestion redoes it.
- after step 2, before or during step 3: the record names the new version,
  whose chunks are all there (step 1 finished): the old chunks are dropped,
  the document is at its new version.
- before or during step 4: the store is right, BM25 lags: it is rebuilt.
- a deletion stopped between its two writes: no record, chunks left: they
  are dropped, the document is deleted as asked.

A record whose own version's chunks are missing or out of count (positions
not exactly 0..n-1) cannot come from a crash in that order; it means damage
from outside (a Chroma file restored from a backup, a hand edit). Serving part
of a document silently would be worse than not serving it, so the document is
dropped and the problem names its source, so the user can ingest it again.

Repairs of the store are only safe while nobody is writing: in embedded mode
the caller holds the folder's lock (``retrieval.stores.chroma``), so the app and the
CLI repair at start-up. In server mode another replica may be mid-ingestion,
so its half-written state would look exactly like a crash: there the store
is only checked and reported, and only this replica's own BM25 files are
rebuilt.
"""

from __future__ import annotations

import logging
import traceback
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from retrieval.bm25 import BM25Directory, StoredChunks
from retrieval.stores import ChunkIndex, VectorStore

log = logging.getLogger(__name__)

ProblemKind = Literal["orphan chunks", "stale version", "damaged document", "bm25 out of step"]


@dataclass(frozen=True)
class Problem:
    """One disagreement; ``detail`` names documents by source, never by content."""

    collection: str
    kind: ProblemKind
    detail: str
    doc_id: str = ""


@dataclass(frozen=True)
class ConsistencyReport:
    """What a check found and, after a repair, what was fixed (``repaired``) and what was left."""

    collections: int
    documents: int
    chunks: int
    problems: tuple[Problem, ...] = ()
    repaired: tuple[Problem, ...] = ()
    error: str = ""  # the check itself failed (e.g. the Chroma server is down): the exception's type

    @property
    def consistent(self) -> bool:
        return not self.problems and not self.error

    def summary(self) -> str:
        """One line for a status page or a log."""
        if self.error:
            return f"index check failed ({self.error}); see the log"
        if self.problems:
            left = f"{len(self.problems)} problem{'s' * (len(self.problems) != 1)} left (not repaired)"
            return f"index checked: {left}" + (f", {len(self.repaired)} repaired" if self.repaired else "")
        if self.repaired:
            return f"index checked: repaired {len(self.repaired)} problem{'s' * (len(self.repaired) != 1)}"
        return "index checked: consistent"


def rebuild_bm25(store: ChunkIndex, bm25: BM25Directory, collection: str) -> int:
    """Rebuild ``collection``'s BM25 from the store, the source of truth; returns the new version.

    Only chunks the current BM25 version lacks are read with their text and tokenised (``StoredChunks``).
    """

    def read(ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        return {c.chunk_id: (c.doc_id, c.text) for c in store.get_chunks(collection, ids)}

    stored = StoredChunks(store.chunk_ids(collection), read)
    return bm25.publish(collection, stored).version


def check(
    store: VectorStore, bm25: BM25Directory, collections: Iterable[str] | None = None
) -> ConsistencyReport:
    """Compare catalogue, chunks and BM25 of each collection (all by default); changes nothing."""
    names = sorted(store.collections() if collections is None else collections)
    problems: list[Problem] = []
    documents = chunks = 0
    for collection in names:
        found, n_docs, n_chunks = _check_collection(store, bm25, collection)
        problems += found
        documents += n_docs
        chunks += n_chunks
    return ConsistencyReport(len(names), documents, chunks, tuple(problems))


def repair(
    store: VectorStore, bm25: BM25Directory, fix_store: bool = True, collections: Iterable[str] | None = None
) -> ConsistencyReport:
    """Check, fix what was found, and check again; the result lists what was fixed and what is left.

    ``fix_store=False`` (server mode, see the module docstring) fixes only BM25.
    """
    before = check(store, bm25, collections)
    fixed: list[Problem] = []
    for problem in before.problems:
        if problem.kind == "bm25 out of step":
            continue  # rebuilt below, once per collection, after the store is right
        if not fix_store:
            continue
        record = store.document(problem.collection, problem.doc_id)
        if problem.kind == "stale version" and record is not None:
            store.delete_document(problem.collection, problem.doc_id, keep_version=record.version)
        else:  # orphan chunks, a damaged document, or a record that vanished since the check
            store.delete_document(problem.collection, problem.doc_id)
        fixed.append(problem)
    touched = {p.collection for p in before.problems if p.kind == "bm25 out of step" or fix_store}
    for collection in sorted(touched):
        rebuild_bm25(store, bm25, collection)
    after = check(store, bm25, collections)
    fixed += [p for p in before.problems if p.kind == "bm25 out of step" and p.collection in touched]
    # A fix that did not hold stays listed in ``problems`` (details may differ: compare by what and where).
    left = {(p.collection, p.kind, p.doc_id) for p in after.problems}
    repaired = tuple(p for p in fixed if (p.collection, p.kind, p.doc_id) not in left)
    for problem in repaired:
        log.warning("repaired %s in collection %r: %s", problem.kind, problem.collection, problem.detail)
    for problem in after.problems:
        log.error("not repaired: %s in collection %r: %s", problem.kind, problem.collection, problem.detail)
    return ConsistencyReport(after.collections, after.documents, after.chunks, after.problems, repaired)


def repair_at_startup(store: VectorStore, bm25: BM25Directory, chroma_mode: str) -> ConsistencyReport:
    """The start-up check of the app and the CLI: repairs, logs, and never raises.

    A failing check must not stop the app from starting (a Chroma server that is down has its own
    message elsewhere). Only the exception's type and where it was raised are logged and kept: its
    text may carry a server URL with credentials, paths or document content.
    """
    try:
        report = repair(store, bm25, fix_store=chroma_mode == "embedded")
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        log.error(
            "the start-up index check failed: %s at %s:%d", type(error).__name__, where.filename, where.lineno
        )
        return ConsistencyReport(0, 0, 0, error=type(error).__name__)
    log.info(
        "%s (%d collections, %d documents, %d chunks)",
        report.summary(),
        report.collections,
        report.documents,
        report.chunks,
    )
    return report


def _check_collection(
    store: VectorStore, bm25: BM25Directory, collection: str
) -> tuple[list[Problem], int, int]:
    records = {r.doc_id: r for r in store.documents(collection)}
    # doc_id -> version -> positions; and every chunk id, for BM25
    versions: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    sources: dict[str, str] = {}
    chunk_ids: set[str] = set()
    for chunk_id, doc_id, source, version, position in store.iter_chunk_refs(collection):
        versions[doc_id][version].append(position)
        sources[doc_id] = source
        chunk_ids.add(chunk_id)

    problems: list[Problem] = []
    for doc_id, by_version in sorted(versions.items()):
        record = records.get(doc_id)
        n = sum(len(p) for p in by_version.values())
        if record is None:
            detail = f"{sources[doc_id]}: {n} chunks of a document with no catalogue record"
            problems.append(Problem(collection, "orphan chunks", detail, doc_id))
            continue
        stale = {v: p for v, p in by_version.items() if v != record.version}
        if stale:
            n_stale = sum(len(p) for p in stale.values())
            detail = f"{record.source}: {n_stale} chunks of {len(stale)} version(s) not the catalogue's"
            problems.append(Problem(collection, "stale version", detail, doc_id))
    for doc_id, record in sorted(records.items()):
        positions = sorted(versions.get(doc_id, {}).get(record.version, []))
        if positions != list(range(record.chunks)):
            detail = (
                f"{record.source}: the catalogue lists {record.chunks} chunks, the store holds "
                f"{len(positions)} of that version; ingest it again"
            )
            problems.append(Problem(collection, "damaged document", detail, doc_id))

    try:
        index = bm25.get(collection)
        indexed = list(index.chunk_ids)
        bm25_error = ""
    except Exception as error:  # a missing or unreadable version folder: rebuilding fixes either
        indexed, bm25_error = [], f"cannot load it ({type(error).__name__})"
    if bm25_error or len(indexed) != len(set(indexed)) or set(indexed) != chunk_ids:
        detail = bm25_error or (
            f"BM25 holds {len(indexed)} chunk ids ({len(set(indexed) - chunk_ids)} not in the store), "
            f"the store {len(chunk_ids)} ({len(chunk_ids - set(indexed))} not in BM25)"
        )
        problems.append(Problem(collection, "bm25 out of step", detail))
    return problems, len(records), len(chunk_ids)
