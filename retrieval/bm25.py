"""Keyword search with bm25s, persisted as versioned folders without pickle.

Design choices:
- bm25s over rank-bm25: ~10x faster queries and ~4x less memory at 100k
  documents, measured here (see docs/decisions.md). rank-bm25 stays in the tests as
  the reference our ranking is checked against, on the same tokens.
- Tokens are lowercased Unicode words, English stop words dropped, Snowball
  stemmed; ``tokenize`` is the one place that decides this, for indexing,
  querying and the reference check alike.
- An index is rebuilt from the store (the source of truth) after each change
  and written to ``<bm25_dir>/<collection>/v<N>/``; a ``CURRENT`` file naming
  the live version is swapped with ``os.replace``, so readers see the old
  index or the new one, never a half-written one. Readers reload when
  ``CURRENT`` changes, which is also how other replicas pick up new versions.
- Each version keeps its term counts (``retrieval.bm25_counts``). Publishing
  ``StoredChunks`` rebuilds from the store's chunk ids and reads and tokenises
  only the chunks the current version lacks: a chunk id is a hash of the chunk's text, so a
  known id has known terms. Adding one document to 100k chunks then costs
  well under the 10 s a full re-tokenisation took (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from askdocs.filelock import exclusive_lock
from retrieval.bm25_counts import TermCounts, bm25_model

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")
_stem_lock = threading.Lock()  # PyStemmer objects are not documented as thread-safe
_KEEP_OLD_VERSIONS = 2


def tokenize(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
    with _stem_lock:
        return _stemmer.stemWords(words)


@dataclass(frozen=True)
class BM25Hit:
    chunk_id: str
    score: float


class BM25Index:
    """An in-memory bm25s index over chunk ids, for one collection."""

    def __init__(
        self,
        model: bm25s.BM25 | None,
        chunk_ids: Sequence[str],
        doc_ids: Sequence[str],
        version: int,
        counts: TermCounts | None = None,
    ):
        self._model = model
        self.chunk_ids = list(chunk_ids)
        self.doc_ids = np.asarray(doc_ids, dtype=object)
        self.version = version
        self._counts = counts  # kept only until saved: a refresh reads them back from disk

    @classmethod
    def build(
        cls, rows: Iterable[tuple[str, str, str]], version: int = 0, method: str = "lucene"
    ) -> BM25Index:
        """Index ``(chunk_id, doc_id, text)`` rows.

        ``method`` is bm25s's scoring variant. Lucene's idf, log(1 + (N - df + .5) / (df + .5)), never goes
        negative, unlike Robertson's; the tests switch to "robertson" to compare with rank-bm25's BM25Okapi.
        """
        chunk_ids, doc_ids, texts = [], [], []
        for chunk_id, doc_id, text in rows:
            chunk_ids.append(chunk_id)
            doc_ids.append(doc_id)
            texts.append(text)
        return cls.from_counts(chunk_ids, doc_ids, TermCounts.count(map(tokenize, texts)), version, method)

    @classmethod
    def from_counts(
        cls,
        chunk_ids: Sequence[str],
        doc_ids: Sequence[str],
        counts: TermCounts,
        version: int = 0,
        method: str = "lucene",
    ) -> BM25Index:
        counts = counts.compact()
        # A vocabulary of nothing (chunks of stop words or digits only) gives no model: nothing can match.
        return cls(bm25_model(counts, method), chunk_ids, doc_ids, version, counts)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def search(self, query: str, k: int, doc_ids: Sequence[str] | None = None) -> list[BM25Hit]:
        """Best ``k`` chunks with a positive score, optionally only from ``doc_ids``."""
        terms = tokenize(query)
        if self._model is None or not terms or k <= 0:
            return []
        mask = None
        if doc_ids:
            mask = np.isin(self.doc_ids, list(doc_ids)).astype(np.float32)
            if not mask.any():
                return []
        k = min(k, len(self.chunk_ids))
        indices, scores = self._model.retrieve(
            [terms], k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        return [BM25Hit(self.chunk_ids[int(i)], float(s)) for i, s in zip(indices[0], scores[0]) if s > 0]

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(folder), show_progress=False)
        if self._counts is not None:
            self._counts.save(folder)
            self._counts = None
        ids = {"chunk_ids": self.chunk_ids, "doc_ids": list(self.doc_ids), "indexed": self._model is not None}
        (folder / "ids.json").write_text(json.dumps(ids))

    @classmethod
    def load(cls, folder: Path, version: int) -> BM25Index:
        ids = json.loads((folder / "ids.json").read_text())
        indexed = ids.get("indexed", bool(ids["chunk_ids"]))  # files written before the flag existed
        model = bm25s.BM25.load(str(folder), mmap=False, show_progress=False) if indexed else None
        return cls(model, ids["chunk_ids"], ids["doc_ids"], version)


@dataclass(frozen=True)
class StoredChunks:
    """Every chunk a store holds, for ``BM25Directory.publish``: their ids in order, and ``read(chunk_ids)``,
    asked 500 ids at a time, giving ``{chunk_id: (doc_id, text)}`` for those still stored.

    Chunk ids must be content hashes of the document and text (as ``ingest.ids`` makes them): a known
    id is taken to have the document and text it had when it was counted.
    """

    ids: Iterable[str]
    read: Callable[[Sequence[str]], dict[str, tuple[str, str]]]


class BM25Directory:
    """The versioned BM25 files of every collection under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[str, BM25Index] = {}
        self._lock = threading.Lock()
        self._publishing = threading.Lock()  # two threads of one writer must not take the same version

    def current_version(self, collection: str) -> int:
        try:
            return int((self.root / collection / "CURRENT").read_text().strip())
        except (FileNotFoundError, ValueError):
            return 0

    def publish(self, collection: str, rows: Iterable[tuple[str, str, str]] | StoredChunks) -> BM25Index:
        """Build a new version from ``rows``, write it, and make it current atomically.

        ``rows`` are ``(chunk_id, doc_id, text)``, or a :class:`StoredChunks`, whose texts are read only
        for chunks the current version does not hold.
        """
        # Replicas sharing the folder publish one at a time too: each takes the next version number and
        # builds from the store as it is once the lock is held, so no publish loses another's change.
        with self._publishing, exclusive_lock(self.root / collection / ".publish.lock"):
            return self._publish(collection, rows)

    def _incremental(self, collection: str, stored: StoredChunks) -> BM25Index:
        """The next version from ``stored``: rows the current version holds keep their counted terms."""
        current = self.current_version(collection)
        folder = self.root / collection / f"v{current}"
        counts = TermCounts.load(folder) if current else None
        ids = list(stored.ids)
        known: dict[str, int] = {}
        doc_of: list[str] = []
        if counts is not None:
            saved = json.loads((folder / "ids.json").read_text())
            known = {cid: row for row, cid in enumerate(saved["chunk_ids"])}
            doc_of = saved["doc_ids"]
        else:  # nothing built yet, or a version written before counts were kept: every text is read once
            counts = TermCounts.count([])
        new = [cid for cid in ids if cid not in known]
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(new), 500):
            found.update(stored.read(new[start : start + 500]))
        ids = [cid for cid in ids if cid in known or cid in found]  # deleted meanwhile: left out
        added = TermCounts.count((tokenize(found[cid][1]) for cid in ids if cid not in known), counts.terms)
        # Rows in the store's order: old rows from ``counts``, new ones from ``added`` (numbered past them).
        rows, doc_ids, next_new = np.empty(len(ids), dtype=np.int64), [], counts.rows
        for i, cid in enumerate(ids):
            row = known.get(cid)
            if row is None:
                row, next_new = next_new, next_new + 1
                doc_ids.append(found[cid][0])
            else:
                doc_ids.append(doc_of[row])
            rows[i] = row
        merged = counts.append(added).take(rows)
        return BM25Index.from_counts(ids, doc_ids, merged, current + 1)

    def _publish(self, collection: str, rows: Iterable[tuple[str, str, str]] | StoredChunks) -> BM25Index:
        if isinstance(rows, StoredChunks):
            return self._write(collection, self._incremental(collection, rows))
        version = self.current_version(collection) + 1
        return self._write(collection, BM25Index.build(rows, version))

    def _write(self, collection: str, index: BM25Index) -> BM25Index:
        base = self.root / collection
        version = index.version
        final = base / f"v{version}"
        staging = base / f".v{version}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)  # a leftover from a crash before CURRENT moved
        index.save(staging)
        os.replace(staging, final)
        pointer = base / ".CURRENT.tmp"
        pointer.write_text(str(version))
        os.replace(pointer, base / "CURRENT")
        for old in base.glob("v*"):
            if old.name[1:].isdigit() and int(old.name[1:]) <= version - _KEEP_OLD_VERSIONS:
                shutil.rmtree(old, ignore_errors=True)
        with self._lock:
            self._loaded[collection] = index
        return index

    def get(self, collection: str) -> BM25Index:
        """The current index of ``collection`` (empty when none was built yet)."""
        version = self.current_version(collection)
        with self._lock:
            cached = self._loaded.get(collection)
            if cached is not None and cached.version == version:
                return cached
        index = (
            BM25Index.load(self.root / collection / f"v{version}", version)
            if version
            else BM25Index(None, [], [], 0)
        )
        with self._lock:
            self._loaded[collection] = index
        return index
