"""The Python-FAQ retrieval benchmark, built from Debian's ``python3.11-doc``.

``python -m eval.datasets.python_faq --out DIR [--cache DIR] [--distractors N]``

Each question of the Python FAQ (``_sources/faq/*.rst.txt``) is a query; its
answer, with the heading removed and the reST markup stripped, is the
relevant passage (split into several when long, each of them relevant).
Sections of the library reference, tutorial, HOWTOs and language reference
are added as distractors. Queries are split into ``dev`` (for tuning) and
``test`` (reported, never tuned on) by :func:`split_of`.

Design choices:

- Which headings are questions: the FAQ marks an entry by structure, not
  punctuation. Below the page title, a heading is a question when it ends in
  "?" or has no sub-headings (a leaf), and it is not inside another question.
  In 3.11 that takes every "?" heading plus four entries that do not end in
  one ("My class defines __del__ but it is not called when I delete the
  object.", "How do you remove multiple items from a list"); group headings
  ("Core Language") have children and are not questions; a leaf with no text
  of its own ("General GUI Questions") gives no passage and so no query. An
  answer runs to the next heading of the same or a higher level, so
  sub-headings of an answer stay inside it.
- Answers shorter than ``min_answer_chars`` (30) are dropped with their
  question ("See the next question.", "No, but it helps. :)"): there is
  nothing in them to retrieve by. Provenance lists them.
- reST becomes the text a reader of the HTML sees, code kept and indented
  by four spaces (``eval.datasets.rest`` says how).
- Passages are cut at paragraph breaks to at most ``max_chars`` (1,200),
  balanced in size, with a code block kept beside the sentence introducing
  it; library pages are cut the same way, section by section.
- The same question asked on two FAQ pages ("What is Python?") is one query
  with both answers relevant: two identical queries with different answers
  would each be scored wrong for the other's passages.
- Distractors are chosen by a salted hash of their id, not by file order, so
  they spread over all pages, and a smaller ``--distractors`` gives a subset
  of a larger one. They are unjudged: a library section may well answer a FAQ
  question, which can only make scores look lower than they are.
- ``split_of`` hashes the query id with a fixed salt, so a query's split
  never depends on which other queries exist; ``dev`` is for tuning (and for
  training anything, such as a reranker), ``test`` is only ever reported.
- The corpus is written in hash order of its ids, so a retriever that breaks
  ties by corpus position gains nothing from FAQ passages coming first.
- Titles carry the page and its section path but never the question itself:
  a passage titled with its own query would make retrieval trivial.
- The .deb and its extracted tree are cached and reused
  (``eval.datasets.debian``); nothing here needs the network once the .deb is
  in the cache, and the same .deb always gives the same bytes (see
  ``eval.datasets.write_beir``).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eval.datasets import Passage, Query, write_beir
from eval.datasets.debian import APT_LISTS, DebPackage, DocsUnavailable, fetch_deb
from eval.datasets.rest import Section, inline_text, parse_sections, rest_to_text, section_labels

# The reST and .deb parts live in their own modules; these names are kept here for existing callers.
__all__ = [
    "APT_LISTS", "BUILDER_VERSION", "COPYRIGHT_FILE", "DEFAULT_CACHE", "DISTRACTOR_DIRS", "DISTRACTOR_SALT",
    "PACKAGE", "SOURCES", "SPLIT_SALT", "DocPackage", "DocsUnavailable", "Entry", "FaqBenchmark", "Section",
    "Split", "build_benchmark", "build_python_faq", "faq_entries", "fetch_docs", "inline_text", "licence_of",
    "main", "parse_sections", "rest_to_text", "section_labels", "slugify", "split_of", "split_passages",
]

BUILDER_VERSION = 1
PACKAGE = "python3.11-doc"
SOURCES = "usr/share/doc/python3.11/html/_sources"
COPYRIGHT_FILE = "usr/share/doc/python3.11-doc/copyright"
DISTRACTOR_DIRS = ("library", "tutorial", "howto", "reference")
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".askdocs" / "eval-data" / "debs"
SPLIT_SALT = "python-faq-split-v2:"  # v1 happened to split the 3.11 FAQ 108/70; chosen before any results
DISTRACTOR_SALT = "python-faq-distractor-v1:"
Split = Literal["dev", "test"]


def split_of(query_id: str) -> Split:
    """``"dev"`` or ``"test"`` for a query id: stable across builds, machines and Python versions.

    Example:
        >>> split_of("faq/programming/how-do-i-copy-an-object-in-python") in ("dev", "test")
        True
    """
    first_byte = hashlib.sha256((SPLIT_SALT + query_id).encode("utf-8")).digest()[0]
    return "dev" if first_byte % 2 == 0 else "test"


# -- FAQ entries -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One FAQ question with the reST lines of its answer and the section path above it."""

    question: str
    path: tuple[str, ...]  # page title, then enclosing sections
    answer: tuple[str, ...]
    line: int


def faq_entries(sections: Sequence[Section]) -> list[Entry]:
    """The question/answer entries of one FAQ page (see the module docstring for the rule)."""
    entries: list[Entry] = []
    path: list[tuple[int, str]] = []  # (level, title) of the enclosing headings
    k = 0
    while k < len(sections):
        s = sections[k]
        while path and path[-1][0] >= s.level:
            path.pop()
        end = next((j for j in range(k + 1, len(sections)) if sections[j].level <= s.level), len(sections))
        if s.level > 0 and (s.title.endswith("?") or end == k + 1):
            answer = list(s.body)
            for child in sections[k + 1:end]:  # sub-headings of an answer stay in it, as plain lines
                answer += ["", child.title, "", *child.body]
            if rest_to_text(answer):
                entries.append(Entry(s.title, tuple(t for _, t in path), tuple(answer), s.line))
            k = end
            continue
        path.append((s.level, s.title))
        k += 1
    return entries


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
    return [text[i:i + max_chars] for i in range(0, len(text), max_chars)]  # one unbroken word


def slugify(text: str) -> str:
    """A URL-fragment-like id for a heading (close to Sphinx's section anchors)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "section"


def _unique(slug: str, seen: dict[str, int]) -> str:
    seen[slug] = seen.get(slug, 0) + 1
    return slug if seen[slug] == 1 else f"{slug}-{seen[slug]}"


# -- the benchmark ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaqBenchmark:
    corpus: tuple[Passage, ...]
    queries: tuple[Query, ...]
    qrels: tuple[tuple[str, str, int], ...]  # (query id, passage id, 1), in query order
    relevant: int  # passages cut from FAQ answers
    distractor_candidates: int  # distractor passages available before selection
    merged_duplicates: tuple[str, ...]  # query ids folded into an earlier query with the same text
    dropped_short: tuple[str, ...]  # questions whose answer is too short to find ("See the next question.")


def build_benchmark(
    sources: Path, distractors: int = 5000, max_chars: int = 1200, min_distractor_chars: int = 100,
    min_answer_chars: int = 30,
) -> FaqBenchmark:
    """The benchmark from an extracted ``_sources`` tree (no files written)."""
    if distractors < 0 or max_chars < 200:
        raise ValueError("distractors must be >= 0 and max_chars >= 200")
    pages = {p.relative_to(sources).as_posix().removesuffix(".rst.txt"): parse_sections(p.read_text("utf-8"))
             for p in sorted(sources.rglob("*.rst.txt"))}
    refs = {label: title for sections in pages.values() for label, title in section_labels(sections).items()}
    refs |= {f"doc:{name}": sections[0].title for name, sections in pages.items() if sections}

    queries: dict[str, Query] = {}
    by_text: dict[str, str] = {}
    merged: list[str] = []
    dropped: list[str] = []
    passages: list[Passage] = []
    qrels: dict[str, list[tuple[str, str, int]]] = {}
    for name in sorted(n for n in pages if n.startswith("faq/")):
        seen: dict[str, int] = {}
        for entry in faq_entries(pages[name]):
            own_id = f"{name}/{_unique(slugify(entry.question), seen)}"
            answer = rest_to_text(entry.answer, refs)
            if len(answer) < min_answer_chars:  # "See the next question.": nothing to retrieve by
                dropped.append(own_id)
                continue
            key = " ".join(entry.question.casefold().split())
            query_id = by_text.setdefault(key, own_id)
            if query_id == own_id:
                queries[query_id] = Query(query_id, entry.question)
            else:
                merged.append(own_id)
            for n, text in enumerate(split_passages(answer, max_chars), start=1):
                passages.append(Passage(f"{own_id}/{n}", " \u203a ".join(entry.path), text))
                qrels.setdefault(query_id, []).append((query_id, f"{own_id}/{n}", 1))

    known = {p.text for p in passages}
    candidates: list[Passage] = []
    for name in sorted(n for n in pages if n.split("/")[0] in DISTRACTOR_DIRS):
        seen = {}
        for section, path in _with_paths(pages[name]):
            section_id = f"{name}/{_unique(slugify(section.title), seen)}"
            for n, text in enumerate(split_passages(rest_to_text(section.body, refs), max_chars), start=1):
                if len(text) >= min_distractor_chars and text not in known:
                    known.add(text)
                    candidates.append(Passage(f"{section_id}/{n}", " \u203a ".join(path), text))
    chosen = sorted(candidates, key=lambda p: _hash(DISTRACTOR_SALT + p.id))[:distractors]
    corpus = sorted(passages + chosen, key=lambda p: _hash(p.id))
    return FaqBenchmark(
        corpus=tuple(corpus), queries=tuple(queries.values()),
        qrels=tuple(row for q in queries for row in qrels[q]), relevant=len(passages),
        distractor_candidates=len(candidates), merged_duplicates=tuple(merged), dropped_short=tuple(dropped),
    )


def _with_paths(sections: Sequence[Section]) -> Iterator[tuple[Section, tuple[str, ...]]]:
    """Each section with the titles from its page title down to itself."""
    stack: list[Section] = []
    for section in sections:
        while stack and stack[-1].level >= section.level:
            stack.pop()
        stack.append(section)
        yield section, tuple(s.title for s in stack)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- the Debian package ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DocPackage(DebPackage):
    """``python3.11-doc``, extracted."""

    @property
    def sources(self) -> Path:
        return self.root / SOURCES


def fetch_docs(cache: Path = DEFAULT_CACHE, version: str | None = None) -> DocPackage:
    """The extracted ``python3.11-doc`` package: a cached .deb when there is one, else ``apt-get download``.

    Without ``version`` the newest .deb in ``cache`` is used, and apt's candidate is downloaded only
    when there is none: a benchmark should not change because Debian published a security update.
    """
    # APT_LISTS is read at call time, so a test can point it at an empty folder
    deb = fetch_deb(PACKAGE, cache, version, apt_lists=APT_LISTS)
    return DocPackage(deb.deb, deb.version, deb.sha256, deb.root)


def licence_of(package: DocPackage) -> dict[str, Any]:
    """The licence terms, as the package states them; fails if the texts we cite are not there."""
    copyright_text = (package.root / COPYRIGHT_FILE).read_text("utf-8", errors="replace")
    licence_page = (package.sources / "license.rst.txt").read_text("utf-8")
    notice_page = (package.sources / "copyright.rst.txt").read_text("utf-8")
    zero_bsd = "other code in\nthe documentation are dual licensed under the PSF License Agreement"
    if "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" not in copyright_text or zero_bsd not in licence_page:
        raise RuntimeError("the package's licence texts changed: re-check them before building the benchmark")
    notices = [" ".join(p.split()) for p in notice_page.split("\n\n") if p.strip().startswith("Copyright ")]
    return {
        "text": "PSF License Agreement (Python Software Foundation License Version 2)",
        "code_examples": "dual licensed under the PSF License Agreement and the Zero-Clause BSD licence "
                         "(since Python 3.8.6)",
        "evidence": {
            COPYRIGHT_FILE: (
                "Debian's copyright file for the package reproduces the Python License (PSF License "
                "Version 2), whose clause 1 covers Python 'in source or binary form and its associated "
                "documentation'; it does not mention the Zero-Clause BSD grant."
            ),
            f"{SOURCES}/license.rst.txt": (
                "'Starting with Python 3.8.6, examples, recipes, and other code in the documentation are "
                "dual licensed under the PSF License Agreement and the Zero-Clause BSD license.'"
            ),
        },
        "copyright_notices": notices,  # the PSF licence asks for the notice to be kept
        "changes": "Text extracted from the reST sources: markup removed, headings removed from FAQ answers, "
                   "pages cut into passages; no wording changed.",  # the PSF licence (clause 3) asks for this
    }


def build_python_faq(
    out: Path, cache: Path = DEFAULT_CACHE, *, distractors: int = 5000, max_chars: int = 1200,
    min_distractor_chars: int = 100, min_answer_chars: int = 30, version: str | None = None,
) -> dict[str, Any]:
    """Fetch (or reuse) the docs, build the benchmark, write it to ``out``; returns the provenance."""
    package = fetch_docs(Path(cache), version)
    bench = build_benchmark(package.sources, distractors, max_chars, min_distractor_chars, min_answer_chars)
    splits: dict[str, list[tuple[str, str, int]]] = {"dev": [], "test": []}
    for row in bench.qrels:
        splits[split_of(row[0])].append(row)
    faq_files = sorted(f"{SOURCES}/faq/{p.name}" for p in (package.sources / "faq").glob("*.rst.txt"))
    count_dev = sum(split_of(q.id) == "dev" for q in bench.queries)
    provenance = {
        "name": "python-faq",
        "builder": "eval.datasets.python_faq",
        "builder_version": BUILDER_VERSION,
        "source": {
            "package": PACKAGE, "version": package.version, "deb": package.deb.name, "sha256": package.sha256,
            "fetched_with": f"apt-get download {PACKAGE}; dpkg-deb -x",
            "queries_and_relevant_passages": faq_files,
            "distractors": [f"{SOURCES}/{d}/*.rst.txt" for d in DISTRACTOR_DIRS],
        },
        "licence": licence_of(package),
        "parameters": {"distractors": distractors, "max_chars": max_chars,
                       "min_distractor_chars": min_distractor_chars, "min_answer_chars": min_answer_chars},
        "split": {
            "rule": f"sha256('{SPLIT_SALT}' + query id): first byte even -> dev, odd -> test "
                    "(eval.datasets.python_faq.split_of)",
            "dev": "tuning only", "test": "reported, never tuned on",
        },
        "counts": {
            "queries": len(bench.queries), "queries_dev": count_dev,
            "queries_test": len(bench.queries) - count_dev, "relevant_passages": bench.relevant,
            "qrels_dev": len(splits["dev"]), "qrels_test": len(splits["test"]),
            "distractors": len(bench.corpus) - bench.relevant,
            "distractor_candidates": bench.distractor_candidates,
            "corpus": len(bench.corpus), "merged_duplicate_questions": list(bench.merged_duplicates),
            "dropped_short_answers": list(bench.dropped_short),
        },
    }
    write_beir(out, bench.corpus, bench.queries, splits, provenance)
    return provenance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.datasets.python_faq",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (BEIR layout)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the .deb is kept")
    parser.add_argument("--distractors", type=int, default=5000, help="distractor passages (default 5000)")
    parser.add_argument("--max-chars", type=int, default=1200, help="longest passage (default 1200 chars)")
    parser.add_argument("--version", help=f"the {PACKAGE} version (default: newest cached, else apt's)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        provenance = build_python_faq(
            args.out, args.cache, distractors=args.distractors, max_chars=args.max_chars, version=args.version
        )
    except DocsUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts, source = provenance["counts"], provenance["source"]
    print(f"python-faq from {source['deb']} (sha256 {source['sha256'][:12]}…) -> {args.out} "
          f"in {time.perf_counter() - started:.1f} s")
    print(f"queries: {counts['queries']} ({counts['queries_dev']} dev, {counts['queries_test']} test); "
          f"corpus: {counts['corpus']} ({counts['relevant_passages']} relevant, "
          f"{counts['distractors']} distractors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
