"""A GNU Info manual (what makeinfo writes, as Debian ships it) as sections with their heading paths.

Nodes are split at the Info separator; the tag table, the top menu and the indices are lists of links
and are skipped; a heading is a line underlined with makeinfo's characters (``*`` chapter, ``=``
section, ``-`` subsection, ``.`` below), and a section's path runs from its chapter down. Cross
references (``*note X::``) become their text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence


def tidy(lines: Sequence[str]) -> str:
    """Lines as one text without trailing spaces, leading or trailing blank lines, or runs of blank lines."""
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip("\n")


_LEVELS = {"*": 1, "=": 2, "-": 3, ".": 4}  # makeinfo's underlines: chapter, section, subsection, …
_NOTE = re.compile(r"\*note\s+([^:]+?)::", re.IGNORECASE)


def manual_sections(info_files: Iterable[str]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(heading path from the chapter down, text) of each section of the Info manual, in order."""
    path: list[tuple[int, str]] = []
    for info in info_files:
        for node in info.split("\x1f\n")[1:]:  # [0] is the file's preamble
            header, _, body = node.partition("\n")
            name = re.search(r"Node: ([^,]+)", header)
            if not header.startswith("File:") or not name or name[1] == "Top" or name[1].endswith(" Index"):
                continue  # the tag table, the top menu and the indices are lists of links
            body = _NOTE.sub(lambda m: " ".join(m[1].split()), body.split("\n* Menu:")[0])
            lines = body.split("\n")
            heads = [k for k in range(len(lines) - 1) if _underlines(lines[k + 1], lines[k])]
            for k, head in enumerate(heads):
                level = _LEVELS[lines[head + 1][0]]
                while path and path[-1][0] >= level:
                    path.pop()
                path.append((level, lines[head]))
                end = heads[k + 1] if k + 1 < len(heads) else len(lines)
                before = lines[:head] if k == 0 else []  # a node may open with a sentence above its heading
                if text := tidy([*before, "", *lines[head + 2 : end]]):  # a chapter's node may be only a menu
                    yield tuple(title for _, title in path), text


def _underlines(mark: str, line: str) -> bool:
    return bool(line) and not line[0].isspace() and mark[:1] in _LEVELS and mark == mark[0] * len(line)
