"""Neutral report blocks, and their two renderings: Markdown and self-contained HTML.

All text in a block is untrusted and is escaped by the renderer, never by
the caller, so no path can forget it. HTML escapes ``& < > " '`` and also
``/``, so a URL in a question shows as text but ``http://`` never appears in
the page source; the page's Content-Security-Policy forbids every request
except ``data:`` images, as a second wall. Markdown escapes raw HTML and the
characters that start links, images, emphasis, code and table cells, writes
``://`` as ``:\\/\\/`` (renders the same, links nowhere) and folds newlines,
since every block but ``Code`` is one line (HTML keeps them). ``Code`` is
verbatim inside a fence longer than any backtick run in it, where Markdown
makes no links, images or HTML. Long text is cut before escaping, so an
entity is never cut in half.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td { max-width: 40em; overflow-wrap: anywhere; }
p, li { white-space: pre-wrap; overflow-wrap: anywhere; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
h3 { margin-top: 1.5em; }
"""
# An escaped "[" is enough to stop both links and images; the rest stop emphasis, code and cells.
_MD_ESCAPE = re.compile(r"([\\`*_\[|~#])")
_BLOCK_START = re.compile(r"^[-+>=]")  # would start a list, quote or heading underline
_NUMBERED = re.compile(r"^(\d+)([.)])")  # would start a numbered list


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str
    limit: int = 600


@dataclass(frozen=True)
class Items:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False
    limit: int = 300


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Image:
    file: str  # a PNG in the report's folder
    alt: str


@dataclass(frozen=True)
class Code:
    text: str


Block = Heading | Para | Items | Table | Image | Code


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + _md(b.text))
        elif isinstance(b, Para):
            out.append(_md(_cut(b.text, b.limit), starts_line=True))
        elif isinstance(b, Items):
            out.append("\n".join("- " + _md(i, starts_line=True) for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md(h) for h in b.header) + " |", "|" + "---|" * len(b.header)]
            for row in b.rows:
                cells = [(_md(_cut(c.text, c.limit)), c.bold) for c in row]
                lines.append("| " + " | ".join(f"**{t}**" if bold else t for t, bold in cells) + " |")
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            out.append(f"![{_md(b.alt)}]({_md(b.file)})")
        elif isinstance(b, Code):
            fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", b.text)), default=0))
            out.append(f"{fence}\n{b.text}\n{fence}")
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[Block], title: str, folder: Path) -> str:
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            level = min(max(b.level, 1), 6)
            body.append(f"<h{level}>{_h(b.text)}</h{level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_h(_cut(b.text, b.limit))}</p>")
        elif isinstance(b, Items):
            body.append("<ul>" + "".join(f"<li>{_h(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_h(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode((folder / b.file).read_bytes()).decode("ascii")
            body.append(f'<img alt="{_h(b.alt)}" src="data:image/png;base64,{data}">')
        elif isinstance(b, Code):
            body.append(f"<pre>{_h(b.text)}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_h(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _td(cell: Cell) -> str:
    text = _h(_cut(cell.text, cell.limit))
    return f"<td><strong>{text}</strong></td>" if cell.bold else f"<td>{text}</td>"


def _h(text: str) -> str:
    return html.escape(str(text), quote=True).replace("/", "&#47;")


def _md(text: str, starts_line: bool = False) -> str:
    text = " ".join(str(text).split())
    text = _MD_ESCAPE.sub(r"\\\1", html.escape(text, quote=False)).replace("://", r":\/\/")
    if starts_line:  # inside a table cell or after "#" these are plain text already
        text = _NUMBERED.sub(r"\1\\\2", _BLOCK_START.sub(r"\\\g<0>", text))
    return text


def _cut(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
