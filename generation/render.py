"""Turning answers and sources into safe markdown.

Here in ``generation``, as the answer's last output stage, not in ``app``: the UI shows it and the
injection suite (``eval.injection``) checks what it shows, and nothing may import ``app``.

Answers come from a model that read untrusted documents, and snippets and
file names come from the documents themselves, so everything shown goes
through :func:`safe_markdown`: markdown whose only active constructs are
emphasis, lists, headings and code. Nothing it produces can fetch a remote
resource or run script, even if Streamlit's HTML escaping (``st.markdown``
with ``unsafe_allow_html=False``, which this app never changes) were off:

- ``[`` and ``]`` are escaped, so no link, image (inline or reference-style)
  or reference definition can form; ``[1]`` citations still read as ``[1]``.
- ``<`` is escaped, so no raw HTML and no ``<https://...>`` autolink; ``&``
  and backticks too, so no entity or code span can be smuggled in.
- Bare URLs (which Streamlit's GitHub-flavoured renderer turns into links)
  are put in inline code, which is never linked. The author's backslash
  escapes and entities are resolved first, as the renderer would.
- Code is left as written: inside fenced blocks and inline code spans nothing
  is interpreted, so escaping there would only show stray backslashes. Code
  spans are recognised on one line only, a subset of CommonMark's rule, so a
  span this module leaves alone is always a code span to the renderer too.
"""

from __future__ import annotations

import html
import re
from typing import cast

from askdocs.types import Answer, Citation, RetrievedChunk
from generation.routing import tier_label

_FENCE = re.compile(r"^(`{3,}|~{3,})")  # opening fences at column 0 only: see _is_top_level_fence
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: any ASCII punctuation
_SPECIAL = re.compile(r"[\\`\[\]<&]")  # what could start a link, image, tag, entity, code span or escape
# What GitHub-flavoured markdown links without brackets (protocol or "www."); backticks never occur
# in the match, so the inline code it is wrapped in cannot end early.
_BARE_URL = re.compile(r"((?:[a-z][a-z0-9+.-]*://|\bwww\.)(?:[^\s<>`]*[^\s<>`.,;:!?)\]'\"])?)", re.IGNORECASE)
_BACKTICKS = re.compile(r"`+")


def safe_markdown(text: str) -> str:
    """Markdown that cannot load anything or link anywhere; code blocks and spans are kept verbatim."""
    out: list[str] = []
    fence = ""  # the opening fence while inside a fenced code block
    # CommonMark ends lines at "\r" too; a line split only on "\n" could hide a fence's end from us.
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if fence:
            out.append(line)
            closing = line.lstrip(" ")
            if (
                len(line) - len(closing) <= 3
                and closing.startswith(fence)
                and not closing.strip().strip(fence[0])
            ):
                fence = ""
            continue
        # An indented fence may belong to a list item, which a less indented line ends (and the code
        # with it); a fence at column 0 is always top level and ends only with its closing fence.
        opening = _FENCE.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in line[opening.end() :]):
            fence = opening.group(1)
            out.append(line)
        else:
            out.append(_safe_line(line))
    return "\n".join(out)


def _safe_line(line: str) -> str:
    parts: list[str] = []
    start = position = 0
    while position < len(line):
        char = line[position]
        if char == "\\":  # an escape pair is copied as is: "\\`" is not a code span
            position += 2
            continue
        if char != "`":
            position += 1
            continue
        run = cast("re.Match[str]", _BACKTICKS.match(line, position)).group(0)  # a backtick is there
        close = _closing_run(line, position + len(run), len(run))
        if close < 0:  # an unmatched run is literal backticks
            position += len(run)
            continue
        parts += [_escape(line[start:position]), line[position : close + len(run)]]
        start = position = close + len(run)
    parts.append(_escape(line[start:]))
    joined = ""
    for part in parts:
        if part.startswith("`") and joined.endswith("`"):
            joined += " "  # two backtick runs must not touch: they would read as one longer run
        joined += part
    return joined


def _closing_run(line: str, begin: int, length: int) -> int:
    for match in _BACKTICKS.finditer(line, begin):
        if len(match.group(0)) == length:
            return match.start()
    return -1


def _escape(text: str) -> str:
    """Plain text outside code, made inert: the text the renderer would show, re-escaped by us."""
    # First undo the author's own escapes and entities ("https:\/\/", "&#58;"): the renderer resolves
    # them before it looks for bare URLs, so they are no way around the rules below.
    shown = html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", text))
    parts = []
    for index, piece in enumerate(_BARE_URL.split(shown)):
        # A URL becomes inline code: readable and copyable, but code is never linked.
        parts.append(f"`{piece}`" if index % 2 else _SPECIAL.sub(r"\\\g<0>", piece))
    return "".join(parts)


def page_label(start: int, end: int) -> str:
    return f"p. {start}" if start == end else f"pp. {start}–{end}"


def citation_heading(citation: Citation) -> str:
    # The file name is the uploader's text, so it is made safe like the rest.
    return safe_markdown(
        f"[{citation.number}] {citation.source}, {page_label(citation.page_start, citation.page_end)}"
    )


def scores_line(hit: RetrievedChunk) -> str:
    parts = []
    for stage in hit.stages:
        parts.append(f"{stage.stage} #{stage.rank} ({stage.score:.3f})")
    return " · ".join(parts)


def timing_line(answer: Answer) -> str:
    t = answer.timings
    parts = [f"retrieval {t.get('retrieve', 0):.2f} s"]
    if "first_token" in t:
        parts.append(f"first token {t['first_token']:.2f} s")
    parts.append(f"total {t.get('total', 0):.2f} s")
    if answer.prompt_tokens:
        parts.append(f"{answer.prompt_tokens} + {answer.completion_tokens} tokens")
    if answer.backend:
        parts.append(answer.backend)
    if answer.tier:
        parts.append(tier_label(answer.tier, answer.tier_reason))
    return " · ".join(parts)
