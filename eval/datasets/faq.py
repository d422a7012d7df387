"""What every FAQ retrieval benchmark shares: answers cut into passages, distractors, splits, output.

A builder (``eval.datasets.python_faq``, ``eval.datasets.zsh_faq``) parses its
own sources into :class:`FaqAnswer` values and documentation sections (one
``Passage`` each, not yet cut); :func:`assemble` turns them into a corpus,
queries and qrels, and :func:`write_benchmark` writes them with their
provenance.

Design choices:

- Answers shorter than ``min_answer_chars`` (30) are dropped with their
  question ("See the next question."): there is nothing in them to retrieve
  by. Provenance lists them.
- Passages are cut at paragraph breaks to at most ``max_chars`` (1,200),
  balanced in size, with a code block (lines indented by four spaces) kept
  beside the sentence introducing it; documentation sections are cut the same
  way.
- The same question asked twice is one query with both answers relevant: two
  identical queries with different answers would each be scored wrong for
  the other's passages.
- Distractors are chosen by a salted hash of their id, not by file order, so
  they spread over the whole documentation, and a smaller ``distractors``
  gives a subset of a larger one. They are unjudged: a documentation section
  may well answer a FAQ question, which can only make scores look lower than
  they are. A section whose text equals a FAQ passage is left out.
- The corpus is written in hash order of its ids, so a retriever that breaks
  ties by corpus position gains nothing from FAQ passages coming first.
- A builder's ``split_of`` hashes the query id with its own fixed salt
  (:func:`hash_split`), so a query's split never depends on which other
  queries exist; ``dev`` is for tuning (and for training anything, such as a
  reranker), ``test`` is only ever reported.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from eval.datasets import Passage, Query, write_beir
from eval.datasets.debian import DEFAULT_CACHE, DocsUnavailable

Split = Literal["dev", "test"]


def hash_split(salt: str, query_id: str) -> Split:
    """``"dev"`` or ``"test"``: the first byte of sha256(salt + id), even or odd."""
    first_byte = hashlib.sha256((salt + query_id).encode("utf-8")).digest()[0]
    return "dev" if first_byte % 2 == 0 else "test"


def split_rule(salt: str, function: str) -> dict[str, str]:
    """How queries were split, for provenance: the rule of :func:`hash_split` with ``salt``."""
    return {
        "rule": f"sha256('{salt}' + query id): first byte even -> dev, odd -> test ({function})",
        "dev": "tuning only",
        "test": "reported, never tuned on",
    }


# -- passages --------------------------------------------------------------------------------------
def split_passages(text: str, max_chars: int) -> list[str]:
    """Cut text into passages of at most ``max_chars``, at paragraph breaks where possible.

    Pieces are balanced (a 1,300-character answer becomes two of ~650, not 1,200 + 100), a code
    block stays with the sentence that introduces it, and only a paragraph longer than
    ``max_chars`` is cut inside: at lines, then sentences, then spaces.
    """
    units: list[str] = []
    previous_code = False
    for paragraph in (p for p in text.split("\n\n") if p.strip()):
        code = all(line.startswith("    ") for line in paragraph.split("\n") if line)
        if code and units and (previous_code or units[-1].endswith(":")):
            units[-1] += "\n\n" + paragraph
        else:
            units.append(paragraph)
        previous_code = code
    units = [piece for unit in units for piece in _cut(unit, max_chars)]
    total = sum(map(len, units)) + 2 * (len(units) - 1)
    target = total / max(1, math.ceil(total / max_chars))
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        if current and (size + 2 + len(unit) > max_chars or size >= target):
            pieces.append("\n\n".join(current))
            current, size = [], 0
        size += len(unit) + (2 if current else 0)
        current.append(unit)
    if current:
        pieces.append("\n\n".join(current))
    return pieces


_LINES, _SENTENCES, _SPACES = re.compile(r"\n"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+")


def _cut(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    for separator, splitter in (("\n", _LINES), (" ", _SENTENCES), (" ", _SPACES)):
        parts = [p for p in splitter.split(text) if p.strip()]
        if len(parts) > 1:
            pieces, current = [], ""
            for part in (q for p in parts for q in _cut(p, max_chars)):
                if current and len(current) + len(separator) + len(part) > max_chars:
                    pieces.append(current)
                    current = ""
                current = f"{current}{separator}{part}" if current else part
            return [*pieces, current] if current else pieces
    return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]  # one unbroken word


def slugify(text: str) -> str:
    """A URL-fragment-like id for a heading (close to Sphinx's section anchors)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "section"


def unique_slug(slug: str, seen: dict[str, int]) -> str:
    """``slug``, or ``slug-2``, ``slug-3``… when ``seen`` already counted it."""
    seen[slug] = seen.get(slug, 0) + 1
    return slug if seen[slug] == 1 else f"{slug}-{seen[slug]}"


def stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- the benchmark ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaqAnswer:
    """One FAQ entry as plain text; ``title`` says where it stands, never what it asks."""

    id: str
    question: str
    title: str
    text: str


@dataclass(frozen=True)
class FaqBenchmark:
    corpus: tuple[Passage, ...]
    queries: tuple[Query, ...]
    qrels: tuple[tuple[str, str, int], ...]  # (query id, passage id, 1), in query order
    relevant: int  # passages cut from FAQ answers
    distractor_candidates: int  # distractor passages available before selection
    merged_duplicates: tuple[str, ...]  # answer ids folded into an earlier query with the same text
    dropped_short: tuple[str, ...]  # answers too short to find ("See the next question.")


def assemble(
    answers: Iterable[FaqAnswer],
    sections: Iterable[Passage],
    distractor_salt: str,
    distractors: int = 5000,
    max_chars: int = 1200,
    min_distractor_chars: int = 100,
    min_answer_chars: int = 30,
) -> FaqBenchmark:
    """Queries, relevant passages and salted-hash distractors (see the module docstring)."""
    if distractors < 0 or max_chars < 200:
        raise ValueError("distractors must be >= 0 and max_chars >= 200")
    queries: dict[str, Query] = {}
    by_text: dict[str, str] = {}
    merged: list[str] = []
    dropped: list[str] = []
    passages: list[Passage] = []
    qrels: dict[str, list[tuple[str, str, int]]] = {}
    for answer in answers:
        if len(answer.text) < min_answer_chars:  # "See the next question.": nothing to retrieve by
            dropped.append(answer.id)
            continue
        key = " ".join(answer.question.casefold().split())
        query_id = by_text.setdefault(key, answer.id)
        if query_id == answer.id:
            queries[query_id] = Query(query_id, answer.question)
        else:
            merged.append(answer.id)
        for n, text in enumerate(split_passages(answer.text, max_chars), start=1):
            passages.append(Passage(f"{answer.id}/{n}", answer.title, text))
            qrels.setdefault(query_id, []).append((query_id, f"{answer.id}/{n}", 1))

    known = {p.text for p in passages}
    candidates: list[Passage] = []
    for section in sections:
        for n, text in enumerate(split_passages(section.text, max_chars), start=1):
            if len(text) >= min_distractor_chars and text not in known:
                known.add(text)
                candidates.append(Passage(f"{section.id}/{n}", section.title, text))
    chosen = sorted(candidates, key=lambda p: stable_hash(distractor_salt + p.id))[:distractors]
    corpus = sorted(passages + chosen, key=lambda p: stable_hash(p.id))
    return FaqBenchmark(
        corpus=tuple(corpus),
        queries=tuple(queries.values()),
        qrels=tuple(row for q in queries for row in qrels[q]),
        relevant=len(passages),
        distractor_candidates=len(candidates),
        merged_duplicates=tuple(merged),
        dropped_short=tuple(dropped),
    )


def write_benchmark(
    out: Path, bench: FaqBenchmark, split_of: Callable[[str], Split], provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """Write ``bench`` to ``out`` (BEIR layout), ``provenance`` plus its counts beside it; returns that."""
    splits: dict[str, list[tuple[str, str, int]]] = {"dev": [], "test": []}
    for row in bench.qrels:
        splits[split_of(row[0])].append(row)
    count_dev = sum(split_of(q.id) == "dev" for q in bench.queries)
    full = {
        **provenance,
        "counts": {
            "queries": len(bench.queries),
            "queries_dev": count_dev,
            "queries_test": len(bench.queries) - count_dev,
            "relevant_passages": bench.relevant,
            "qrels_dev": len(splits["dev"]),
            "qrels_test": len(splits["test"]),
            "distractors": len(bench.corpus) - bench.relevant,
            "distractor_candidates": bench.distractor_candidates,
            "corpus": len(bench.corpus),
            "merged_duplicate_questions": list(bench.merged_duplicates),
            "dropped_short_answers": list(bench.dropped_short),
        },
    }
    write_beir(out, bench.corpus, bench.queries, splits, full)
    return full


# -- the command line ------------------------------------------------------------------------------
class Builder(Protocol):
    def __call__(
        self,
        out: Path,
        cache: Path = ...,
        *,
        distractors: int = ...,
        max_chars: int = ...,
        version: str | None = ...,
    ) -> dict[str, Any]: ...


def build_main(argv: list[str] | None, prog: str, description: str, package: str, build: Builder) -> int:
    """The ``python -m eval.datasets.<name>`` command of an FAQ builder."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, required=True, help="output folder (BEIR layout)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the .deb is kept")
    parser.add_argument("--distractors", type=int, default=5000, help="distractor passages (default 5000)")
    parser.add_argument("--max-chars", type=int, default=1200, help="longest passage (default 1200 chars)")
    parser.add_argument("--version", help=f"the {package} version (default: newest cached, else apt's)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        provenance = build(
            args.out, args.cache, distractors=args.distractors, max_chars=args.max_chars, version=args.version
        )
    except DocsUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts, source = provenance["counts"], provenance["source"]
    print(
        f"{provenance['name']} from {source['deb']} (sha256 {source['sha256'][:12]}…) -> {args.out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    print(
        f"queries: {counts['queries']} ({counts['queries_dev']} dev, {counts['queries_test']} test); "
        f"corpus: {counts['corpus']} ({counts['relevant_passages']} relevant, "
        f"{counts['distractors']} distractors)"
    )
    return 0
