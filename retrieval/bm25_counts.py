"""The term counts a BM25 index is computed from, kept beside it so a rebuild reuses them.

Design choices:
- A collection's counts are one sparse docs × terms matrix of token counts (CSR: ``data`` counts,
  ``indices`` term ids, ``indptr`` row starts) and the term list. They are saved with each index
  version (plain ``.npy`` files and the index's own vocabulary, no pickle), so a rebuild after adding
  one document tokenises that document only and copies every other row, as whole arrays.
- The BM25 weights are computed from the counts with numpy and scipy.sparse, all rows at once, with bm25s's formulas
  (``scoring._score_tfc_robertson`` and the idf of the chosen method, k1 = 1.5, b = 0.75) and put into a
  ``bm25s.BM25`` as its own ``index`` would: bm25s's indexer loops over documents in Python and took
  ~20 s for 100k chunks here, this takes well under a second. ``tests/retrieval/test_bm25.py`` checks
  the two give the same scores.
- Terms no chunk uses any more are dropped on every build, so the vocabulary is what a fresh
  build from the same chunks would have.
- bm25s gives a query with no known term the empty token ``""``; it is kept as a last, empty column.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import bm25s
import numpy as np
import scipy.sparse as sp

K1, B = 1.5, 0.75
_FILES = ("data", "indices", "indptr")


@dataclass(frozen=True)
class TermCounts:
    data: np.ndarray  # int32 count of each (row, term) present
    indices: np.ndarray  # int32 term id of each entry
    indptr: np.ndarray  # int64, one more than rows: row r is data[indptr[r]:indptr[r + 1]]
    terms: tuple[str, ...]

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def count(cls, token_lists: Iterable[Sequence[str]], terms: Sequence[str] = ()) -> TermCounts:
        """Counts of ``token_lists``; term ids continue ``terms`` (new terms are appended)."""
        vocab = {t: i for i, t in enumerate(terms)}
        data, indices, lengths = array("i"), array("i"), array("q")  # 4-8 bytes an entry, not a Python int
        for tokens in token_lists:
            counted = Counter(tokens)
            indices.extend(vocab.setdefault(t, len(vocab)) for t in counted)
            data.extend(counted.values())
            lengths.append(len(counted))
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(np.frombuffer(lengths, dtype=np.int64), out=indptr[1:])
        return cls(
            np.frombuffer(data, dtype=np.int32).copy(),
            np.frombuffer(indices, dtype=np.int32).copy(),
            indptr,
            tuple(vocab),
        )

    def take(self, rows: np.ndarray) -> TermCounts:
        """These rows, in this order (vectorised: no loop over rows)."""
        if len(rows) == self.rows and np.array_equal(rows, np.arange(self.rows)):
            return self  # the usual case after adding documents: old rows in order, new ones after them
        starts, lengths = self.indptr[rows], np.diff(self.indptr)[rows]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return TermCounts(self.data[positions], self.indices[positions], indptr, self.terms)

    def append(self, other: TermCounts) -> TermCounts:
        """Rows of ``self`` then of ``other``, whose term ids must continue ``self.terms``."""
        if other.terms[: len(self.terms)] != self.terms:
            raise ValueError("the appended counts must extend this term list")
        return TermCounts(
            np.concatenate([self.data, other.data]),
            np.concatenate([self.indices, other.indices]),
            np.concatenate([self.indptr, other.indptr[1:] + self.indptr[-1]]),
            other.terms,
        )

    def compact(self) -> TermCounts:
        """The same counts without terms that no row uses."""
        used = np.bincount(self.indices, minlength=len(self.terms)) > 0
        if used.all():
            return self
        new_id = np.cumsum(used, dtype=np.int64) - 1
        terms = tuple(t for t, keep in zip(self.terms, used) if keep)
        return TermCounts(self.data, new_id[self.indices].astype(np.int32), self.indptr, terms)

    # -- persistence -------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        for name in _FILES:
            np.save(folder / f"counts.{name}.npy", getattr(self, name), allow_pickle=False)
        (folder / "counts.terms.json").write_text(json.dumps(self.terms))

    @classmethod
    def load(cls, folder: Path) -> TermCounts | None:
        """The counts saved in ``folder``; None for a version written before counts were kept."""
        if not (folder / "counts.terms.json").exists():
            return None
        arrays = [np.load(folder / f"counts.{name}.npy", allow_pickle=False) for name in _FILES]
        return cls(
            *cast("tuple[np.ndarray, np.ndarray, np.ndarray]", arrays),
            tuple(json.loads((folder / "counts.terms.json").read_text())),
        )


def bm25_model(counts: TermCounts, method: str = "lucene") -> bm25s.BM25 | None:
    """A bm25s model scoring ``counts`` as ``bm25s.BM25(method).index`` would; None when no row has a term."""
    if counts.data.size == 0:
        return None
    if method not in ("lucene", "robertson"):
        raise ValueError(f"unsupported BM25 method {method!r}: use 'lucene' or 'robertson'")
    n_docs, n_terms = counts.rows, len(counts.terms)
    tf = counts.data.astype(np.float32)
    lengths = np.diff(counts.indptr)
    # One column more than there are terms: the empty token's, which no document has.
    matrix = sp.csr_matrix((tf, counts.indices, counts.indptr), shape=(n_docs, n_terms + 1))
    doc_len = np.asarray(matrix.sum(axis=1), dtype=np.float32).ravel()  # tokens, repeats included, as bm25s
    df = np.bincount(counts.indices, minlength=n_terms + 1).astype(np.float32)
    ratio = (n_docs - df + 0.5) / (df + 0.5)
    idf = np.log1p(ratio) if method == "lucene" else np.log(np.maximum(ratio, 1.0))
    norm = np.repeat(K1 * ((1 - B) + B * doc_len / max(float(doc_len.mean()), 1e-9)), lengths)
    matrix.data = (idf[counts.indices] * tf / (norm + tf)).astype(np.float32)
    # bm25s keeps the matrix column-major (one slice per term), documents ascending within a term;
    # scipy's conversion is one pass in C++ (a stable argsort of the entries took seconds at 100k chunks).
    csc = matrix.tocsc()
    model = bm25s.BM25(method=method, k1=K1, b=B)
    model.scores = {
        "data": csc.data,
        "indices": csc.indices.astype(np.int32, copy=False),
        "indptr": csc.indptr.astype(np.int64, copy=False),
        "num_docs": n_docs,
    }
    model.vocab_dict = {term: i for i, term in enumerate(counts.terms)} | {"": n_terms}
    model.unique_token_ids_set = set(model.vocab_dict.values())
    model.nonoccurrence_array = None  # only BM25L and BM25+ use one
    return model
