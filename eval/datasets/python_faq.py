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
- Short answers ("See the next question.", "No, but it helps. :)") are
  dropped, long ones cut into passages, the same question on two pages ("What
  is Python?") is one query, distractors are picked by a salted hash, and
  queries are split by another: ``eval.datasets.faq`` says why, once for
  every FAQ benchmark.
- reST becomes the text a reader of the HTML sees, code kept and indented
  by four spaces (``eval.datasets.rest`` says how); library pages are cut
  into passages section by section.
- Titles carry the page and its section path but never the question itself:
  a passage titled with its own query would make retrieval trivial.
- The .deb and its extracted tree are cached and reused
  (``eval.datasets.debian``); nothing here needs the network once the .deb is
  in the cache, and the same .deb always gives the same bytes (see
  ``eval.datasets.write_beir``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.datasets import Passage
from eval.datasets.debian import APT_LISTS, DEFAULT_CACHE, DebPackage, DocsUnavailable, fetch_deb
from eval.datasets.faq import (
    FaqAnswer,
    FaqBenchmark,
    Split,
    assemble,
    build_main,
    hash_split,
    slugify,
    split_passages,
    split_rule,
    unique_slug,
    write_benchmark,
)
from eval.datasets.rest import rest_to_text
from eval.datasets.rest_inline import inline_text
from eval.datasets.rest_sections import Section, parse_sections, section_labels

# The reST, .deb and shared FAQ parts live in their own modules; names kept here for existing callers.
__all__ = [
    "APT_LISTS",
    "BUILDER_VERSION",
    "COPYRIGHT_FILE",
    "DEFAULT_CACHE",
    "DISTRACTOR_DIRS",
    "DISTRACTOR_SALT",
    "PACKAGE",
    "SOURCES",
    "SPLIT_SALT",
    "DocPackage",
    "DocsUnavailable",
    "Entry",
    "FaqBenchmark",
    "Section",
    "Split",
    "build_benchmark",
    "build_python_faq",
    "faq_entries",
    "fetch_docs",
    "inline_text",
    "licence_of",
    "main",
    "parse_sections",
    "rest_to_text",
    "section_labels",
    "slugify",
    "split_of",
    "split_passages",
]

BUILDER_VERSION = 1
PACKAGE = "python3.11-doc"
SOURCES = "usr/share/doc/python3.11/html/_sources"
COPYRIGHT_FILE = "usr/share/doc/python3.11-doc/copyright"
DISTRACTOR_DIRS = ("library", "tutorial", "howto", "reference")
SPLIT_SALT = "python-faq-split-v2:"  # v1 happened to split the 3.11 FAQ 108/70; chosen before any results
DISTRACTOR_SALT = "python-faq-distractor-v1:"


def split_of(query_id: str) -> Split:
    """``"dev"`` or ``"test"`` for a query id: stable across builds, machines and Python versions.

    Example:
        >>> split_of("faq/programming/how-do-i-copy-an-object-in-python") in ("dev", "test")
        True
    """
    return hash_split(SPLIT_SALT, query_id)


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
            for child in sections[k + 1 : end]:  # sub-headings of an answer stay in it, as plain lines
                answer += ["", child.title, "", *child.body]
            if rest_to_text(answer):
                entries.append(Entry(s.title, tuple(t for _, t in path), tuple(answer), s.line))
            k = end
            continue
        path.append((s.level, s.title))
        k += 1
    return entries


# -- the benchmark ---------------------------------------------------------------------------------
def build_benchmark(
    sources: Path,
    distractors: int = 5000,
    max_chars: int = 1200,
    min_distractor_chars: int = 100,
    min_answer_chars: int = 30,
) -> FaqBenchmark:
    """The benchmark from an extracted ``_sources`` tree (no files written)."""
    pages = {
        p.relative_to(sources).as_posix().removesuffix(".rst.txt"): parse_sections(p.read_text("utf-8"))
        for p in sorted(sources.rglob("*.rst.txt"))
    }
    refs = {label: title for sections in pages.values() for label, title in section_labels(sections).items()}
    refs |= {f"doc:{name}": sections[0].title for name, sections in pages.items() if sections}
    return assemble(
        _answers(pages, refs),
        _library_sections(pages, refs),
        DISTRACTOR_SALT,
        distractors,
        max_chars,
        min_distractor_chars,
        min_answer_chars,
    )


def _answers(pages: Mapping[str, Sequence[Section]], refs: Mapping[str, str]) -> Iterator[FaqAnswer]:
    for name in sorted(n for n in pages if n.startswith("faq/")):
        seen: dict[str, int] = {}
        for entry in faq_entries(pages[name]):
            yield FaqAnswer(
                f"{name}/{unique_slug(slugify(entry.question), seen)}",
                entry.question,
                " \u203a ".join(entry.path),
                rest_to_text(entry.answer, refs),
            )


def _library_sections(pages: Mapping[str, Sequence[Section]], refs: Mapping[str, str]) -> Iterator[Passage]:
    for name in sorted(n for n in pages if n.split("/")[0] in DISTRACTOR_DIRS):
        seen: dict[str, int] = {}
        for section, path in _with_paths(pages[name]):
            yield Passage(
                f"{name}/{unique_slug(slugify(section.title), seen)}",
                " \u203a ".join(path),
                rest_to_text(section.body, refs),
            )


def _with_paths(sections: Sequence[Section]) -> Iterator[tuple[Section, tuple[str, ...]]]:
    """Each section with the titles from its page title down to itself."""
    stack: list[Section] = []
    for section in sections:
        while stack and stack[-1].level >= section.level:
            stack.pop()
        stack.append(section)
        yield section, tuple(s.title for s in stack)


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
    out: Path,
    cache: Path = DEFAULT_CACHE,
    *,
    distractors: int = 5000,
    max_chars: int = 1200,
    min_distractor_chars: int = 100,
    min_answer_chars: int = 30,
    version: str | None = None,
) -> dict[str, Any]:
    """Fetch (or reuse) the docs, build the benchmark, write it to ``out``; returns the provenance."""
    package = fetch_docs(Path(cache), version)
    bench = build_benchmark(package.sources, distractors, max_chars, min_distractor_chars, min_answer_chars)
    faq_files = sorted(f"{SOURCES}/faq/{p.name}" for p in (package.sources / "faq").glob("*.rst.txt"))
    provenance = {
        "name": "python-faq",
        "builder": "eval.datasets.python_faq",
        "builder_version": BUILDER_VERSION,
        "source": {
            "package": PACKAGE,
            "version": package.version,
            "deb": package.deb.name,
            "sha256": package.sha256,
            "fetched_with": f"apt-get download {PACKAGE}; dpkg-deb -x",
            "queries_and_relevant_passages": faq_files,
            "distractors": [f"{SOURCES}/{d}/*.rst.txt" for d in DISTRACTOR_DIRS],
        },
        "licence": licence_of(package),
        "parameters": {
            "distractors": distractors,
            "max_chars": max_chars,
            "min_distractor_chars": min_distractor_chars,
            "min_answer_chars": min_answer_chars,
        },
        "split": split_rule(SPLIT_SALT, "eval.datasets.python_faq.split_of"),
    }
    return write_benchmark(out, bench, split_of, provenance)


def main(argv: list[str] | None = None) -> int:
    return build_main(
        argv, "python -m eval.datasets.python_faq", __doc__.split("\n")[0], PACKAGE, build_python_faq
    )


if __name__ == "__main__":
    sys.exit(main())
