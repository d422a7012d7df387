"""Evaluation data sets, written to disk in the BEIR layout.

Each builder (``python -m eval.datasets.<name> --out DIR``) writes::

    DIR/corpus.jsonl        {"_id", "title", "text"} per passage
    DIR/queries.jsonl       {"_id", "text"[, "metadata"]} per query
    DIR/qrels/<split>.tsv   "query-id<TAB>corpus-id<TAB>score", with that header
    DIR/provenance.json     where the data came from, its licence, counts, how it was split

Design choices:

- The writer is deliberately tiny and lives here rather than in ``eval.beir``
  (the reader): it writes several splits and a provenance file at once. A corpus
  entry is the reader's own ``Passage``, so what is written and what is read are
  one type (both modules need only the standard library).
- Output is byte-for-byte deterministic: fixed key order, ``\\n`` line ends,
  UTF-8 without escapes, no timestamps or absolute paths. Building twice
  gives the same files, so a changed benchmark shows up as a changed hash.
- The whole directory is written next to its destination and swapped in, so
  a crash never leaves half a data set and files of an older build (a qrels
  split that no longer exists) never linger. A non-empty directory that does
  not look like a data set is refused rather than replaced.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.beir import Passage

__all__ = ["Passage", "Query", "Qrels", "dump_json", "write_jsonl", "write_beir"]


@dataclass(frozen=True)
class Query:
    """One query; ``metadata`` is written only when non-empty."""

    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


Qrels = Mapping[str, Iterable[tuple[str, str, int]]]  # split -> (query id, corpus id, score)


def dump_json(value: Any) -> str:
    """The one JSON spelling used for every file we write."""
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(dump_json(row) + "\n")


def _query_row(query: Query) -> dict[str, Any]:
    row: dict[str, Any] = {"_id": query.id, "text": query.text}
    if query.metadata:
        row["metadata"] = dict(query.metadata)
    return row


def write_beir(
    out: Path,
    corpus: Iterable[Passage],
    queries: Iterable[Query],
    qrels: Qrels,
    provenance: Mapping[str, Any],
    extra_jsonl: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
) -> None:
    """Write a data set to ``out`` (replacing an earlier build there) in the BEIR layout."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "corpus.jsonl").exists():
        raise FileExistsError(f"{out} is not empty and holds no corpus.jsonl; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        passages = ({"_id": p.id, "title": p.title, "text": p.text} for p in corpus)
        write_jsonl(staging / "corpus.jsonl", passages)
        write_jsonl(staging / "queries.jsonl", (_query_row(q) for q in queries))
        (staging / "qrels").mkdir()
        for split, rows in qrels.items():
            with (staging / "qrels" / f"{split}.tsv").open("w", encoding="utf-8", newline="\n") as f:
                f.write("query-id\tcorpus-id\tscore\n")
                for query_id, corpus_id, score in rows:
                    f.write(f"{query_id}\t{corpus_id}\t{score}\n")
        for name, extra_rows in (extra_jsonl or {}).items():
            write_jsonl(staging / name, extra_rows)
        (staging / "provenance.json").write_text(
            json.dumps(provenance, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n"
        )
        staging.chmod(0o755)  # mkdtemp makes it 0700; a data set is meant to be read by others
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}-old-{staging.name}")
            out.rename(old)
        staging.rename(out)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
