"""The Zsh-FAQ retrieval benchmark, built from Debian's ``zsh-common`` and ``zsh-doc``.

``python -m eval.datasets.zsh_faq --out DIR [--cache DIR] [--distractors N]``

Each numbered question of the Zsh FAQ (``zsh-common``'s ``FAQ.gz``, plain
text) is a query; its answer is the relevant passage (split into several when
long, each of them relevant). Sections of the Zsh manual are distractors.
Queries are split into ``dev`` and ``test`` by :func:`split_of`. What every
FAQ benchmark shares (cutting, merging, dropping, distractor choice, split
hashing) is in ``eval.datasets.faq``.

Design choices:

- Which lines are headings: the FAQ is Yodl's plain-text output, where a
  heading has two or more blank lines above and below it, and says what it
  is: a numbered question ("3.1: …", which may wrap onto more lines), a
  chapter ("Chapter 3: …") or a closing section's one-line title ending in
  a colon ("Acknowledgments:", "Copyright Information:"). Some answer
  paragraphs are set off by two blank lines too (a one-line answer always
  is), so the blank lines alone are not enough. In 5.9 that takes every
  chapter, question and closing section and nothing else. An answer runs
  to the next heading of any kind.
- The question is the heading in the body, not the contents list's wording
  ("2.1: Differences from sh and ksh", listed as "2.1. sh and ksh?"): the
  body heading is the one written to stand alone.
- Answer text is kept as a reader of the FAQ sees it, trailing spaces and
  runs of blank lines removed: Yodl indents follow-on lines by two spaces and
  examples by four, so ``split_passages`` still finds the code.
- Distractors come from the manual in Info format, from ``zsh-doc`` of the
  same version: ``zsh-common`` ships only the Texinfo source and man pages,
  and Info is already plain text. Nodes are cut at their underlined headings
  (``*``, ``=``, ``-``, ``.``); menus are dropped, ``*note X::`` becomes
  ``X``, the index nodes and ``Top`` (lists of links) are left out.
- Ids are slugs of the question or manual heading, not question numbers
  alone, so a renumbered FAQ keeps its query ids and splits.
- Titles carry the chapter ("Zsh FAQ › Chapter 3: How to get various things
  to work") or the manual's heading path, never the question itself.
"""

from __future__ import annotations

import gzip
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from eval.datasets import Passage
from eval.datasets.debian import DEFAULT_CACHE, DebPackage, fetch_deb
from eval.datasets.faq import (
    FaqAnswer,
    FaqBenchmark,
    Split,
    assemble,
    build_main,
    hash_split,
    slugify,
    split_rule,
    unique_slug,
    write_benchmark,
)
from eval.datasets.info_manual import manual_sections, tidy

BUILDER_VERSION = 1
PACKAGE = "zsh-common"
MANUAL_PACKAGE = "zsh-doc"
FAQ_FILE = "usr/share/doc/zsh-common/FAQ.gz"
INFO_DIR = "usr/share/info"
COPYRIGHT_FILE = "usr/share/doc/zsh-common/copyright"  # zsh-doc's doc folder is a link to this one
SPLIT_SALT = "zsh-faq-split-v1:"
DISTRACTOR_SALT = "zsh-faq-distractor-v1:"
SEP = " \u203a "


def split_of(query_id: str) -> Split:
    """``"dev"`` or ``"test"`` for a query id: stable across builds, machines and Python versions.

    Example:
        >>> split_of("faq/how-do-i-get-a-newline-in-my-prompt") in ("dev", "test")
        True
    """
    return hash_split(SPLIT_SALT, query_id)


# -- the FAQ ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """A heading of the FAQ's body and the text below it, up to the next heading."""

    heading: str  # its lines joined by single spaces
    text: str
    line: int  # 1-based, in the FAQ file


@dataclass(frozen=True)
class Entry:
    """One numbered question of the FAQ with its answer's text."""

    number: str  # "3.1"
    question: str
    chapter: str  # "Chapter 3: How to get various things to work"
    answer: str
    line: int


_QUESTION = re.compile(r"(\d+\.\d+):\s+(.+)")
_CHAPTER = re.compile(r"Chapter \d+:\s+.+")
_TITLE = re.compile(rf"{_CHAPTER.pattern}|\S.*:")  # "Chapter 3: …", "Acknowledgments:"


def faq_blocks(text: str) -> list[Block]:
    """The body's headings with their text (see the module docstring for what a heading is)."""
    lines = [line.rstrip() for line in text.split("\n")]
    start = next((i + 1 for i, line in enumerate(lines) if line == "--- End of Contents ---"), 0)
    runs = []  # [first, end) line ranges of the paragraphs
    for blank, group in groupby(range(start, len(lines)), key=lambda i: not lines[i]):
        if not blank:
            numbers = list(group)
            runs.append((numbers[0], numbers[-1] + 1))
    gaps = [a - b for (_, b), (a, _) in zip([(0, start - 2), *runs], runs)]  # blank lines above each
    gaps.append(2)  # the end of the file counts as blank lines below the last paragraph
    headings = [
        (a, b)
        for k, (a, b) in enumerate(runs)
        if gaps[k] >= 2
        and gaps[k + 1] >= 2
        and (_QUESTION.match(lines[a]) or b == a + 1 and _TITLE.fullmatch(lines[a]))
    ]
    ends = [a for a, _ in headings[1:]] + [len(lines)]
    return [
        Block(" ".join(line.strip() for line in lines[a:b]), tidy(lines[b:end]), a + 1)
        for (a, b), end in zip(headings, ends)
    ]


def faq_entries(blocks: Sequence[Block]) -> list[Entry]:
    """The numbered questions with their chapter; chapter introductions and closing sections are not."""
    entries: list[Entry] = []
    chapter = ""
    for block in blocks:
        if _CHAPTER.fullmatch(block.heading):
            chapter = block.heading
        elif question := _QUESTION.fullmatch(block.heading):
            entries.append(Entry(question[1], question[2], chapter, block.text, block.line))
    return entries


# -- the benchmark ---------------------------------------------------------------------------------
def build_benchmark(
    faq_text: str,
    info_files: Iterable[str],
    distractors: int = 5000,
    max_chars: int = 1200,
    min_distractor_chars: int = 100,
    min_answer_chars: int = 30,
) -> FaqBenchmark:
    """The benchmark from the FAQ's text and the manual's Info files, in order (no files written)."""
    return assemble(
        _answers(faq_text),
        _manual_passages(info_files),
        DISTRACTOR_SALT,
        distractors,
        max_chars,
        min_distractor_chars,
        min_answer_chars,
    )


def _answers(faq_text: str) -> Iterator[FaqAnswer]:
    seen: dict[str, int] = {}
    for entry in faq_entries(faq_blocks(faq_text)):
        title = SEP.join(("Zsh FAQ", entry.chapter)) if entry.chapter else "Zsh FAQ"
        query_id = f"faq/{unique_slug(slugify(entry.question), seen)}"
        yield FaqAnswer(query_id, entry.question, title, entry.answer)


def _manual_passages(info_files: Iterable[str]) -> Iterator[Passage]:
    seen: dict[str, int] = {}
    for path, text in manual_sections(info_files):
        yield Passage(f"manual/{unique_slug(slugify(path[-1]), seen)}", SEP.join(("Zsh manual", *path)), text)


# -- the Debian packages ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ZshDocs:
    """``zsh-common`` (the FAQ) and ``zsh-doc`` (the manual) of one version, extracted."""

    common: DebPackage
    doc: DebPackage

    def faq_text(self) -> str:
        return gzip.decompress((self.common.root / FAQ_FILE).read_bytes()).decode("utf-8")

    def info_paths(self) -> list[Path]:
        """``zsh.info-1.gz``, ``zsh.info-2.gz``, … in order (``zsh.info.gz`` holds only the tag table)."""
        paths = (self.doc.root / INFO_DIR).glob("zsh.info-*.gz")
        return sorted(paths, key=lambda p: int(p.name.removesuffix(".gz").rsplit("-", 1)[1]))

    def info_files(self) -> Iterator[str]:
        return (gzip.decompress(p.read_bytes()).decode("utf-8") for p in self.info_paths())


def fetch_docs(cache: Path = DEFAULT_CACHE, version: str | None = None) -> ZshDocs:
    """Both packages, cached .debs when there are some, else ``apt-get download``; ``zsh-doc`` of
    ``zsh-common``'s version, so the FAQ and the manual come from one release."""
    common = fetch_deb(PACKAGE, cache, version)
    return ZshDocs(common, fetch_deb(MANUAL_PACKAGE, cache, common.version))


def _field(paragraph: str, name: str) -> str:
    """A deb822 field's value: its first line, then its continuation lines (" ." is an empty line)."""
    lines = paragraph.split("\n")
    first = next(k for k, line in enumerate(lines) if line.startswith(f"{name}:"))
    value = [lines[first].split(":", 1)[1].strip()]
    for line in lines[first + 1 :]:
        if not line.startswith(" "):
            break
        value.append("" if line.strip() == "." else line.strip())
    return "\n".join(value).strip()


def licence_of(docs: ZshDocs, blocks: Sequence[Block]) -> dict[str, Any]:
    """The licence terms, as the FAQ and Debian's copyright file state them; fails if they changed."""
    copyright_text = (docs.common.root / COPYRIGHT_FILE).read_text("utf-8")
    paragraphs = {p.split("\n", 1)[0]: p for p in copyright_text.split("\n\n")}
    faq_terms = next((b.text for b in blocks if b.heading == "Copyright Information:"), "")
    faq_stanza = paragraphs.get("Files: Etc/FAQ.yo", "")
    if (
        "Permission is hereby granted" not in faq_terms
        or "License: PWS-Zsh-FAQ" not in faq_stanza
        or "Files: *" not in paragraphs
        or "License: Zsh" not in paragraphs
    ):
        raise RuntimeError("the package's licence texts changed: re-check them before building the benchmark")
    return {
        "faq": "the FAQ's own terms (Debian calls them PWS-Zsh-FAQ): use, copy, modify and distribute "
        "for any purpose, provided the copyright notice appears in all copies",
        "manual": "the Zsh licence (Debian's copyright file, Files: *): use, copy, modify and distribute, "
        "provided the copyright notice and the licence's two disclaimer paragraphs appear in "
        "all copies",
        "evidence": {
            FAQ_FILE: "the FAQ's closing section 'Copyright Information' (quoted in faq_terms)",
            COPYRIGHT_FILE: "stanzas 'Files: *' (License: Zsh) and 'Files: Etc/FAQ.yo' "
            "(License: PWS-Zsh-FAQ)",
        },
        # Both licences ask for their notices in every copy: these travel with the data set.
        "faq_terms": [" ".join(p.split()) for p in faq_terms.split("\n\n")],
        "manual_copyright": " ".join(_field(paragraphs["Files: *"], "Copyright").split()),
        "zsh_licence": _field(paragraphs["License: Zsh"], "License").split("\n", 1)[1],
        "changes": "Plain text as shipped; headings removed from FAQ answers, Info menus dropped, cross "
        "references reduced to their target's name, both cut into passages; no wording changed.",
    }


def build_zsh_faq(
    out: Path,
    cache: Path = DEFAULT_CACHE,
    *,
    distractors: int = 5000,
    max_chars: int = 1200,
    min_distractor_chars: int = 100,
    min_answer_chars: int = 30,
    version: str | None = None,
) -> dict[str, Any]:
    """Fetch (or reuse) the packages, build the benchmark, write it to ``out``; returns the provenance."""
    docs = fetch_docs(Path(cache), version)
    faq_text = docs.faq_text()
    bench = build_benchmark(
        faq_text, docs.info_files(), distractors, max_chars, min_distractor_chars, min_answer_chars
    )
    common, doc = docs.common, docs.doc
    provenance = {
        "name": "zsh-faq",
        "builder": "eval.datasets.zsh_faq",
        "builder_version": BUILDER_VERSION,
        "source": {
            "package": PACKAGE,
            "version": common.version,
            "deb": common.deb.name,
            "sha256": common.sha256,
            "fetched_with": f"apt-get download {PACKAGE} {MANUAL_PACKAGE}; dpkg-deb -x",
            "queries_and_relevant_passages": [FAQ_FILE],
            "distractor_package": {
                "package": MANUAL_PACKAGE,
                "version": doc.version,
                "deb": doc.deb.name,
                "sha256": doc.sha256,
            },
            "distractors": [f"{INFO_DIR}/{p.name}" for p in docs.info_paths()],
        },
        "licence": licence_of(docs, faq_blocks(faq_text)),
        "parameters": {
            "distractors": distractors,
            "max_chars": max_chars,
            "min_distractor_chars": min_distractor_chars,
            "min_answer_chars": min_answer_chars,
        },
        "split": split_rule(SPLIT_SALT, "eval.datasets.zsh_faq.split_of"),
    }
    return write_benchmark(out, bench, split_of, provenance)


def main(argv: list[str] | None = None) -> int:
    return build_main(argv, "python -m eval.datasets.zsh_faq", __doc__.split("\n")[0], PACKAGE, build_zsh_faq)


if __name__ == "__main__":
    sys.exit(main())
