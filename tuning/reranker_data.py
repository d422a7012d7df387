"""Training data for the reranker: queries, positives and mined hard negatives from ``python3.11-doc``.

``collect(sources)`` turns an extracted ``_sources`` tree into queries and a passage pool;
``mine(collected, bm25_hits, dense_hits)`` turns those into :class:`TrainingGroup` rows (one query,
one positive, ``negatives`` hard negatives); ``build_groups`` does both with our own retrievers.

Design choices:
- What goes in (and nothing else): sections of the library reference, tutorial, HOWTOs and language
  reference (the benchmark's distractor folders) as the passage pool; three kinds of query over it:
  a section's heading (its positive is the section's first passage), an ``.. index::`` entry (the
  passage holding the text right after the directive) and the FAQ questions of the ``dev`` split
  (their answer passages, cut exactly as the benchmark cuts them). FAQ ``test`` entries never enter,
  not even as negatives; other FAQ pages' text enters only through dev answers. The Debian FAQ and the
  R manuals are not read at all. A fourth, optional kind, questions our local generator writes about
  doc passages, is built on this pool by ``tuning.synthetic``.
- Passages look like the retriever's chunks ("title\\ntext"), but a pool passage's title is the path
  of the sections *above* it: a passage titled with its own heading would make the heading query
  trivial, the same rule the FAQ benchmark follows for its answers.
- Headings that are one word ("Examples") or occur more than once in the pool are not queries: they
  name no single passage.
- Negatives are interleaved BM25 and dense hits (our ``BM25Index`` and the MiniLM embedder with a dot
  product), skipping the query's own section, its positives and any passage with a positive's text,
  and the top ``skip`` hits of doc-derived queries (another section often answers a heading just as
  well; a false negative teaches the wrong thing).
- Deterministic: queries are ordered and sampled by a salted sha256 of their ids, ties in retrieval
  are broken by position, nothing depends on set or dict iteration order beyond insertion.
- ``eval.datasets`` does the reST parsing and owns the FAQ split; it is imported here, in offline
  tooling, and never by the runtime ``retrieval`` package.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

POOL_DIRS = ("library", "tutorial", "howto", "reference")
SAMPLE_SALT = "reranker-data-v1:"
_INDEX_TYPES = ("module", "keyword", "statement", "operator", "object", "exception", "builtin")
_INDEX = re.compile(r"\s*\.\.\s+index::\s*(.*)$")

Hits = Callable[[Sequence[str], int], list[list[int]]]  # query texts, k -> pool positions per query


@dataclass(frozen=True)
class PoolPassage:
    id: str
    section: str  # page/section id: passages of one section are never each other's negatives
    title: str  # the sections above it, joined by " › "
    text: str

    @property
    def body(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class TrainingQuery:
    id: str
    text: str
    source: str  # "heading", "index" or "faq-dev"
    positives: tuple[int, ...]  # positions in the pool


@dataclass(frozen=True)
class Collected:
    pool: tuple[PoolPassage, ...]
    queries: tuple[TrainingQuery, ...]
    excluded_faq_test: int  # FAQ questions left out because they are in the test split
    # sha256 of each FAQ test answer passage's normalised text (``answer_digest``): their texts never
    # enter, but a caller choosing passages can refuse one that a doc page happens to repeat
    faq_test_answers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TrainingGroup:
    query: str
    query_id: str
    source: str
    positive: str
    negatives: tuple[str, ...]
    positive_id: str
    negative_ids: tuple[str, ...]


def _hash(text: str) -> str:
    return hashlib.sha256((SAMPLE_SALT + text).encode("utf-8")).hexdigest()


def answer_digest(text: str) -> str:
    """What ``Collected.faq_test_answers`` holds for a passage text: case and spacing do not matter."""
    return hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()


def index_queries(line_rest: str, continuation: Sequence[str]) -> list[str]:
    """Readable queries from one ``.. index::`` directive ("pair: built-in function; len" -> ...)."""
    raw = [line_rest] if line_rest.strip() else []
    raw += [c for c in continuation]
    out: list[str] = []
    for entry in (r.strip() for r in raw):
        if not entry or entry.startswith(":"):  # directive options such as ":name:"
            continue
        kind, _, rest = entry.partition(":")
        kind, rest = (kind.strip(), rest) if rest else ("single", entry)
        terms = [t.strip().lstrip("!") for t in rest.split(";") if t.strip()]
        if not terms:
            continue
        text = " ".join(terms)
        if kind in _INDEX_TYPES:
            text = f"{text} {'built-in function' if kind == 'builtin' else kind}"
        out.append(" ".join(text.split()))
    return out


def _index_entries(body: Sequence[str]) -> list[tuple[list[str], int]]:
    """(queries, line after the directive) for each ``.. index::`` in a section body."""
    found = []
    i = 0
    while i < len(body):
        m = _INDEX.match(body[i])
        if not m or body[i].startswith(" "):
            i += 1
            continue
        j = i + 1
        while j < len(body) and body[j].startswith((" ", "\t")) and body[j].strip():
            j += 1
        found.append((index_queries(m.group(1), [line.strip() for line in body[i + 1 : j]]), j))
        i = j
    return found


def collect(sources: Path, max_chars: int = 1200, min_chars: int = 100) -> Collected:
    """The passage pool and all candidate queries from an extracted ``_sources`` tree."""
    from eval.datasets.python_faq import (
        _with_paths,
        build_benchmark,
        slugify,
        split_of,
        split_passages,
        unique_slug,
    )
    from eval.datasets.rest import rest_to_text
    from eval.datasets.rest_sections import parse_sections, section_labels

    pages = {
        p.relative_to(sources).as_posix().removesuffix(".rst.txt"): parse_sections(p.read_text("utf-8"))
        for p in sorted(sources.rglob("*.rst.txt"))
        if p.relative_to(sources).parts[0] in POOL_DIRS
    }
    refs = {label: title for sections in pages.values() for label, title in section_labels(sections).items()}
    refs |= {f"doc:{name}": sections[0].title for name, sections in pages.items() if sections}

    pool: list[PoolPassage] = []
    queries: list[TrainingQuery] = []
    known: set[str] = set()
    headings: list[tuple[str, str, int]] = []  # (section id, heading, first passage)
    for name in sorted(pages):
        seen: dict[str, int] = {}
        for section, path in _with_paths(pages[name]):
            section_id = f"{name}/{unique_slug(slugify(section.title), seen)}"
            first = len(pool)
            for n, text in enumerate(split_passages(rest_to_text(section.body, refs), max_chars), start=1):
                if len(text) >= min_chars and text not in known:
                    known.add(text)
                    parents = " \u203a ".join(path[:-1])
                    pool.append(PoolPassage(f"{section_id}/{n}", section_id, parents, text))
            if len(pool) == first:
                continue
            headings.append((section_id, section.title, first))
            for k, (terms, after) in enumerate(_index_entries(section.body)):
                lead = rest_to_text(list(section.body[after:]), refs).split("\n\n")[0].strip()[:80]
                hit = next((i for i in range(first, len(pool)) if lead and lead in pool[i].text), None)
                for m, term in enumerate(terms):
                    if hit is not None and len(term) >= 3:
                        queries.append(TrainingQuery(f"index:{section_id}/{k}/{m}", term, "index", (hit,)))

    counts = Counter(" ".join(h.casefold().split()) for _, h, _ in headings)
    for section_id, heading, first in headings:
        if len(re.findall(r"\w+", heading)) >= 2 and counts[" ".join(heading.casefold().split())] == 1:
            queries.append(TrainingQuery(f"heading:{section_id}", heading, "heading", (first,)))

    # FAQ dev questions with their answers, cut and identified exactly as the benchmark does
    faq_sources = sources if (sources / "faq").is_dir() else None
    excluded = 0
    test_answers: set[str] = set()
    if faq_sources is not None:
        bench = build_benchmark(faq_sources, distractors=0, max_chars=max_chars)
        by_id = {p.id: p for p in bench.corpus}
        relevant: dict[str, list[str]] = {}
        for query_id, passage_id, _ in bench.qrels:
            relevant.setdefault(query_id, []).append(passage_id)
        for query in bench.queries:
            if split_of(query.id) != "dev":
                excluded += 1
                test_answers.update(
                    answer_digest(by_id[passage_id].text) for passage_id in relevant[query.id]
                )
                continue
            positions = []
            for passage_id in relevant[query.id]:
                p = by_id[passage_id]
                positions.append(len(pool))
                pool.append(PoolPassage(p.id, query.id, p.title, p.text))
            queries.append(TrainingQuery(f"faq-dev:{query.id}", query.text, "faq-dev", tuple(positions)))
    return Collected(tuple(pool), tuple(queries), excluded, frozenset(test_answers))


def sample(queries: Sequence[TrainingQuery], max_headings: int, max_index: int) -> list[TrainingQuery]:
    """All FAQ dev queries plus a deterministic sample of the others, in a fixed (hashed) order."""
    caps = {"heading": max_headings, "index": max_index, "faq-dev": len(queries)}
    taken: Counter[str] = Counter()
    chosen = []
    for q in sorted(queries, key=lambda q: _hash(q.id)):
        if taken[q.source] < caps[q.source]:
            taken[q.source] += 1
            chosen.append(q)
    return chosen


def mine(
    collected: Collected,
    queries: Sequence[TrainingQuery],
    bm25: Hits,
    dense: Hits,
    negatives: int = 3,
    depth: int = 30,
    skip: int = 1,
) -> list[TrainingGroup]:
    """One group per (query, positive): ``negatives`` interleaved BM25/dense hard negatives each."""
    pool = collected.pool
    texts = [q.text for q in queries]
    lexical, semantic = bm25(texts, depth), dense(texts, depth)
    groups = []
    for q, hits_a, hits_b in zip(queries, lexical, semantic):
        own = {pool[i].section for i in q.positives}
        positive_texts = {pool[i].text for i in q.positives}
        merged, seen = [], set()
        for pair in zip(hits_a, hits_b):
            for i in pair:
                if i not in seen:
                    seen.add(i)
                    merged.append(i)
        usable = [i for i in merged if pool[i].section not in own and pool[i].text not in positive_texts]
        usable = usable[skip if q.source != "faq-dev" else 0 :]
        if len(usable) < negatives:
            continue
        chosen = usable[:negatives]
        for p in q.positives:
            groups.append(
                TrainingGroup(
                    q.text,
                    q.id,
                    q.source,
                    pool[p].body,
                    tuple(pool[i].body for i in chosen),
                    pool[p].id,
                    tuple(pool[i].id for i in chosen),
                )
            )
    return groups


def bm25_hits(pool: Sequence[PoolPassage]) -> Hits:
    from retrieval.bm25 import BM25Index

    index = BM25Index.build((str(i), str(i), p.body) for i, p in enumerate(pool))
    return lambda texts, k: [[int(h.chunk_id) for h in index.search(t, k)] for t in texts]


def dense_hits(
    pool: Sequence[PoolPassage], embed: Callable[[Sequence[str]], object], cache: Path | None = None
) -> Hits:
    """Dot products of normalised vectors; the pool's vectors are cached by a hash of its texts."""
    import numpy as np

    digest = hashlib.sha256("\0".join(p.body for p in pool).encode("utf-8")).hexdigest()[:16]
    path = cache / f"pool-{digest}.npy" if cache else None
    if path is not None and path.exists():
        vectors = np.load(path)
    else:
        vectors = np.asarray(embed([p.body for p in pool]), dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)

    def search(texts: Sequence[str], k: int) -> list[list[int]]:
        scores = np.asarray(embed(list(texts)), dtype=np.float32) @ vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [row.tolist() for row in order]

    return search


def counts(collected: Collected, chosen: Sequence[TrainingQuery], groups: Sequence[TrainingGroup]) -> dict:
    """The data card's numbers."""
    return {
        "pool_passages": len(collected.pool),
        "candidate_queries": dict(Counter(q.source for q in collected.queries)),
        "sampled_queries": dict(Counter(q.source for q in chosen)),
        "groups": dict(Counter(g.source for g in groups)),
        "pairs": sum(1 + len(g.negatives) for g in groups),
        "faq_test_questions_excluded": collected.excluded_faq_test,
    }
