"""Load and write retrieval test sets in BEIR's format, from a folder or a zip.

The format (Thakur et al., NeurIPS 2021 Datasets track): ``corpus.jsonl``
(``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
``qrels/<split>.tsv`` (header ``query-id  corpus-id  score``, tab separated).
Extra JSON keys (BEIR's ``metadata``) are ignored. ``corpus.jsonl.gz`` and
``queries.jsonl.gz`` are read too, as the Hugging Face copies ship them.

Design choices:

- **Folders and zips** are read by ``eval.beir_sources``: a zip is never
  extracted, what is read from it is capped at ``max_bytes``, and the files may
  sit in a single sub-folder, as in BEIR's own zips (``scifact/corpus.jsonl``).
- **Which queries are kept.** Those of the split's qrels that have a positive
  grade on a document of the corpus. BEIR's own loader keeps every query of the
  qrels, and pytrec_eval then scores one with only zero grades as 0; but with
  no relevant document nDCG and recall are 0/0, so such a query measures
  nothing and is left out here. What was dropped is counted in
  :class:`Dropped` and logged, never silently lost.
- **Strict where ambiguity would corrupt results, lenient where BEIR is.** Bad
  JSON, missing or duplicate ids, a non-integer grade or a missing file raise
  :class:`BeirFormatError` naming the file and line. A qrels row pointing at an
  unknown document or query is dropped and counted, as BEIR's evaluators ignore
  unknown documents; a repeated row keeps its last grade, as BEIR's loader does.
  Ids that are JSON integers become strings, since the qrels' ids are text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from eval.beir_sources import MAX_BYTES, BeirFormatError, Source, Tree, open_tree, read_lines, resolve

# Reading folders and zips lives in eval.beir_sources; these names are kept here for existing callers.
__all__ = [
    "MAX_BYTES",
    "QRELS_HEADER",
    "BeirDataset",
    "BeirFormatError",
    "Dropped",
    "Passage",
    "Source",
    "available_splits",
    "load_beir",
]

log = logging.getLogger(__name__)

QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass(frozen=True)
class Passage:
    """One corpus document."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Dropped:
    """What loading left out, and why."""

    queries_without_relevant: int = 0  # in the split's qrels, but no positive grade on a known document
    rows_unknown_corpus_id: int = 0
    rows_unknown_query_id: int = 0
    rows_repeated: int = 0  # same (query, document) again; the last grade was kept


@dataclass(frozen=True)
class BeirDataset:
    """A corpus, the queries of one split and their graded judgments.

    The mappings are plain dicts so a dataset can be pickled (Streamlit's cache,
    worker processes); treat them as read-only.
    """

    name: str
    corpus: Mapping[str, Passage]
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]
    split: str = "test"
    dropped: Dropped = field(default_factory=Dropped)


def load_beir(
    source: Source, split: str = "test", *, name: str | None = None, max_bytes: int = MAX_BYTES
) -> BeirDataset:
    """Read a BEIR-format dataset from a folder, a zip file, or a zip's bytes or file object.

    Example:
        >>> data = load_beir("tests/eval/fixtures/beir_tiny")
        >>> data.name, len(data.queries) > 0
        ('beir_tiny', True)
    """
    _check_split_name(split)
    with open_tree(source, max_bytes) as tree:
        qrels_file = tree.where(f"qrels/{split}.tsv")
        splits = _splits(tree)
        if split not in splits:
            there = ", ".join(splits) or "none"
            raise BeirFormatError(qrels_file, f"no split {split!r}; the splits here are: {there}")
        corpus: dict[str, Passage] = {}
        for where, number, doc_id, row in _records(tree, "corpus.jsonl"):
            title = _field(where, number, row, "title", optional=True)
            corpus[doc_id] = Passage(doc_id, title, _field(where, number, row, "text"))
        all_queries = {
            query_id: _field(where, number, row, "text")
            for where, number, query_id, row in _records(tree, "queries.jsonl")
        }
        qrels, dropped = _read_qrels(tree, f"qrels/{split}.tsv", corpus, all_queries)
        dataset_name = name or tree.name
    if not qrels:
        raise BeirFormatError(qrels_file, "no query has a positive grade on a document of the corpus")
    if dropped != Dropped():
        log.warning("BEIR %s/%s: left out %s", dataset_name, split, dropped)
    queries = {query_id: all_queries[query_id] for query_id in qrels}
    return BeirDataset(dataset_name, corpus, queries, qrels, split, dropped)


def available_splits(source: Source, *, max_bytes: int = MAX_BYTES) -> list[str]:
    """The split names with a ``qrels/<split>.tsv``, sorted."""
    with open_tree(source, max_bytes) as tree:
        return _splits(tree)


# --- parsing ---------------------------------------------------------------------------------------


def _splits(tree: Tree) -> list[str]:
    return sorted(n.removesuffix(".tsv") for n in tree.names("qrels") if n.endswith(".tsv"))


def _records(tree: Tree, path: str) -> Iterator[tuple[str, int, str, dict[str, Any]]]:
    """(file, line number, id, object) for each JSON line, refusing repeated ids."""
    path = resolve(tree, path)
    where = tree.where(path)
    seen: dict[str, int] = {}
    for number, line in read_lines(tree, path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise BeirFormatError(where, f"not valid JSON ({e.msg})", number) from None
        if not isinstance(row, dict):
            raise BeirFormatError(where, "each line must be a JSON object", number)
        raw_id = row.get("_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or not str(raw_id).strip():
            raise BeirFormatError(where, 'missing "_id" (a non-empty string)', number)
        item_id = str(raw_id)
        if item_id in seen:
            raise BeirFormatError(where, f"_id {item_id!r} repeats line {seen[item_id]}", number)
        seen[item_id] = number
        yield where, number, item_id, row


def _field(where: str, number: int, row: dict[str, Any], key: str, optional: bool = False) -> str:
    value = row.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise BeirFormatError(where, f'"{key}" must be a string', number)
    return value


def _read_qrels(
    tree: Tree, path: str, corpus: Mapping[str, Passage], queries: Mapping[str, str]
) -> tuple[dict[str, dict[str, int]], Dropped]:
    where = tree.where(path)
    qrels: dict[str, dict[str, int]] = {}
    judged: set[str] = set()
    unknown_doc = unknown_query = repeated = 0
    for number, line in read_lines(tree, path):
        fields = [f.strip() for f in line.split("\t")]
        if number == 1 and not _is_int(fields[-1]):
            continue  # the header; BEIR's loader skips line 1 whatever it says
        if len(fields) != 3:
            problem = f"expected 3 tab-separated fields (query-id, corpus-id, score), got {len(fields)}"
            raise BeirFormatError(where, problem, number)
        query_id, doc_id, score = fields
        if not _is_int(score):
            raise BeirFormatError(where, f"grade {score!r} is not an integer", number)
        if not query_id or not doc_id:
            raise BeirFormatError(where, "empty query-id or corpus-id", number)
        judged.add(query_id)
        if doc_id not in corpus:
            unknown_doc += 1
        elif query_id not in queries:
            unknown_query += 1
        else:
            judgments = qrels.setdefault(query_id, {})
            repeated += doc_id in judgments
            judgments[doc_id] = int(score)
    kept = {q: j for q, j in qrels.items() if any(g > 0 for g in j.values())}
    return kept, Dropped(len(judged) - len(kept), unknown_doc, unknown_query, repeated)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_split_name(split: str) -> None:
    if not split or split in (".", "..") or any(c in split for c in "/\\\0"):
        raise ValueError(f"not a split name: {split!r}")
