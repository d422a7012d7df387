"""Turning answers and sources into safe markdown.

Answers come from a model that read untrusted documents, so they are shown
as plain markdown only: Streamlit already escapes raw HTML, and images are
defused here, because a markdown image pointing outside would make every
reader's browser fetch it (a tracking pixel, or a way to leak the question).
"""

from __future__ import annotations

import re

from askdocs.types import Answer, Citation, RetrievedChunk

_IMAGE = re.compile(r"!\[")
_AUTOLINK_IMAGE = re.compile(r"<(https?://[^>]+)>")


def safe_markdown(text: str) -> str:
    """Markdown that cannot load anything: image syntax is escaped, autolinks become plain text."""
    text = _IMAGE.sub(r"!\\[", text)
    return _AUTOLINK_IMAGE.sub(r"\1", text)


def page_label(start: int, end: int) -> str:
    return f"p. {start}" if start == end else f"pp. {start}–{end}"


def citation_heading(citation: Citation) -> str:
    return f"[{citation.number}] {citation.source}, {page_label(citation.page_start, citation.page_end)}"


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
    return " · ".join(parts)
