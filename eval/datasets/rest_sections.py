"""A reST page cut at its headings, as docutils orders heading levels.

Heading levels are not fixed by the adornment character: they follow the order in which adornment
styles (character, and whether there is an overline) first appear on the page. Level 0 is the page
title; text before the first heading is dropped. ``.. _label:`` targets just above a heading are kept
with its :class:`Section`, so ``:ref:`label``` can show the section's title (:func:`section_labels`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eval.datasets.rest_inline import inline_text

_ADORNMENT = re.compile(r"([!-/:-@\[-`{-~])\1{2,}\s*")
_LABEL = re.compile(r"\.\.\s+_`?([^:`]+)`?:\s*")


@dataclass(frozen=True)
class Section:
    """A heading and the reST lines under it, up to the next heading of any level."""

    title: str  # inline markup stripped
    level: int  # 0 is the page title; levels follow the order in which adornment styles appear
    line: int  # 1-based line of the title text
    body: tuple[str, ...]
    labels: tuple[str, ...] = ()  # ``.. _label:`` targets just above the heading, lower-cased


def parse_sections(source: str, refs: Mapping[str, str] | None = None) -> list[Section]:
    """Split a reST page at its headings (text before the first heading is dropped)."""
    lines = source.expandtabs(8).splitlines()
    found: list[tuple[int, int, tuple[str, bool], str]] = []  # (first line, body start, style, raw title)
    i = 0
    while i < len(lines):
        after_blank = i == 0 or not lines[i - 1].strip()
        if (
            after_blank
            and i + 2 < len(lines)
            and _ADORNMENT.fullmatch(lines[i])
            and lines[i + 1].strip()
            and _ADORNMENT.fullmatch(lines[i + 2])
            and lines[i + 2][0] == lines[i][0]
        ):
            found.append((i, i + 3, (lines[i][0], True), lines[i + 1].strip()))
            i += 3
        elif (
            after_blank
            and i + 1 < len(lines)
            and lines[i].strip()
            and not lines[i][0].isspace()
            and not _ADORNMENT.fullmatch(lines[i])
            and _ADORNMENT.fullmatch(lines[i + 1])
            and len(lines[i + 1].rstrip()) >= min(len(lines[i].rstrip()), 4)
        ):
            found.append((i, i + 2, (lines[i + 1][0], False), lines[i].strip()))
            i += 2
        else:
            i += 1
    styles: list[tuple[str, bool]] = []
    sections = []
    for k, (start, body_start, style, raw) in enumerate(found):
        if style not in styles:
            styles.append(style)
        end = found[k + 1][0] if k + 1 < len(found) else len(lines)
        labels, j = [], start - 1
        while j >= 0 and (not lines[j].strip() or _LABEL.fullmatch(lines[j])):
            if lines[j].strip():
                labels.append(_LABEL.fullmatch(lines[j]).group(1).lower())  # type: ignore[union-attr]
            j -= 1
        title = " ".join(inline_text(raw, refs).split())
        title_line = start + 2 if style[1] else start + 1
        body = tuple(lines[body_start:end])
        sections.append(Section(title, styles.index(style), title_line, body, tuple(reversed(labels))))
    return sections


def section_labels(sections: Sequence[Section]) -> dict[str, str]:
    """``label -> section title`` for resolving ``:ref:`label``` without an explicit title."""
    return {label: s.title for s in sections for label in s.labels}
