"""reStructuredText to plain text, as Sphinx renders the CPython 3.11 docs.

:func:`rest_to_text` turns the lines under a heading into the text a reader of
the HTML sees; ``eval.datasets.rest_sections`` cuts a page at its headings and
``eval.datasets.rest_inline`` renders one line's inline markup. This is not a
reST parser: it handles what the Python docs use, and nothing here needs
docutils or Sphinx.

Design choices:

- Heading levels are not fixed by the adornment character: as in docutils,
  they follow the order in which adornment styles (character, and whether
  there is an overline) first appear on the page. Level 0 is the page title;
  text before the first heading is dropped.
- ``.. _label:`` targets just above a heading are kept with its
  :class:`Section`, so ``:ref:`label``` can show the section's title
  (:func:`section_labels`), as Sphinx does when the reference gives none.
- Roles and links become their text (``:func:`len``` -> ``len()``, following
  Sphinx's ``add_function_parentheses``; ``:ref:`` to the section title; a
  ``:meth:`~a.b.c``` shows only ``c()``); ``|release|`` and ``|version|``
  are "3.11", the docs this was written for.
- Code (literal blocks after ``::``, ``code-block``, doctests, grammar
  rules) is kept verbatim, indented by four spaces, so later steps can tell
  it from prose without parsing again. An API entry keeps its signature lines
  verbatim, with its description right under them.
- ``index``, labels, comments and other directives a reader never sees are
  dropped; ``versionadded`` and friends keep their "New in version 3.2."
  wording, admonitions their "Note:" label. Any other directive (rubric,
  topic, ``only``, ...) keeps its title and content, so no prose is lost.
- Table borders and transitions go; a grid-table row becomes its cells' text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from eval.datasets.rest_inline import inline_text

# -- text ------------------------------------------------------------------------------------------
_EXPLICIT = re.compile(r"\.\.(?:\s|$)")
_DIRECTIVE = re.compile(r"\.\.\s+([A-Za-z][\w:+.-]*?)::(?:\s+(.*?))?\s*")
_STRAY_DIRECTIVE = re.compile(r"\.\. [\w:-]+::\s*")
_FOOTNOTE = re.compile(r"\.\.\s+\[[^\]]+\]\s*(.*)")
_OPTION = re.compile(r"\s*:\w[\w .-]*:(?:\s.*)?")
# Table borders and transitions: nothing a reader would search for.
_RULE = re.compile(r"\s*(?:\+[-=+:]+\+|[-=]{2,}(?:\s+[-=]{2,})+|([-=~*^#_+\"'.])\1{3,})\s*")
# Directives whose output a reader never sees (or that point at files we do not have).
_DROP = frozenset(
    "index toctree highlight sectionauthor moduleauthor codeauthor testsetup testcleanup tabularcolumns "
    "include literalinclude image module currentmodule program contents audit-event-table raw "
    "default-role role meta autosummary".split()
)
_CODE = frozenset("code-block code sourcecode doctest testcode testoutput parsed-literal".split())
_OBJECTS = frozenset(
    "function method class exception attribute data decorator decoratormethod classmethod staticmethod "
    "abstractmethod coroutinefunction coroutinemethod awaitablefunction awaitablemethod opcode cmdoption "
    "option envvar describe object pdbcommand 2to3fixer property".split()
)
_OBJECT_PREFIX = {
    "class": "class ",
    "exception": "exception ",
    "decorator": "@",
    "decoratormethod": "@",
    "classmethod": "classmethod ",
    "staticmethod": "staticmethod ",
    "abstractmethod": "abstractmethod ",
    "coroutinefunction": "coroutine ",
    "coroutinemethod": "coroutine ",
    "awaitablefunction": "awaitable ",
    "awaitablemethod": "awaitable ",
}
_LABELLED = {
    "note": "Note:",
    "warning": "Warning:",
    "important": "Important:",
    "caution": "Caution:",
    "tip": "Tip:",
    "hint": "Hint:",
    "attention": "Attention:",
    "danger": "Danger:",
    "error": "Error:",
    "seealso": "See also:",
    "impl-detail": "CPython implementation detail:",
}


def rest_to_text(lines: Sequence[str], refs: Mapping[str, str] | None = None) -> str:
    """reST lines to plain text: prose unwrapped of markup, code kept and indented by four spaces."""
    out: list[str] = []
    _render(list(lines), out, refs or {})
    tidy = []
    for line in out:
        if line.startswith("    "):
            tidy.append(line.rstrip())
            continue
        line = _STRAY_DIRECTIVE.sub("", " ".join(line.split()))  # directives inside table cells
        if len(line) > 1 and line[0] == line[-1] == "|":  # a grid-table row
            line = " ".join(" ".join(cell.split()) for cell in line.strip("|").split("|") if cell.strip())
        tidy.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(tidy)).strip("\n")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: Sequence[str], start: int, indent: int) -> int:
    """End of the block that starts at ``start`` and holds lines indented deeper than ``indent``."""
    j = start
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
    while j > start and not lines[j - 1].strip():
        j -= 1
    return j


def _dedent(lines: Sequence[str]) -> list[str]:
    depth = min((_indent(line) for line in lines if line.strip()), default=0)
    return [line[depth:] for line in lines]


def _code(lines: Sequence[str], out: list[str]) -> None:
    body = _dedent(lines)
    while body and not body[0].strip():
        body.pop(0)
    out += ["", *(("    " + line).rstrip() for line in body), ""]


def _render(lines: list[str], out: list[str], refs: Mapping[str, str]) -> None:
    para: list[tuple[int, str]] = []  # (indent, text) of the current paragraph's lines
    literal_after: int | None = None  # indent of a paragraph that ended with "::"

    def flush() -> None:
        nonlocal literal_after
        if not para:
            return
        text, last_indent = _unwrap(para), para[-1][0]
        para.clear()
        if text.endswith("::"):  # "Example::" -> "Example:", "Example ::" and "::" -> nothing
            literal_after = last_indent  # a literal block is indented deeper than the text before it
            text = text[:-2].rstrip() if text == "::" or text[-3].isspace() else text[:-1]
        if text.strip():
            out.extend(inline_text(text, refs).split("\n"))

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            flush()
            out.append("")
            i += 1
            continue
        indent, body = _indent(line), line.lstrip(" ")
        if literal_after is not None and not para:
            if indent > literal_after:  # the literal block ends where its own indentation does
                end = _block_end(lines, i, indent - 1)
                _code(lines[i:end], out)
                i, literal_after = end, None
                continue
            literal_after = None
        if _EXPLICIT.match(body):
            flush()
            end = _block_end(lines, i + 1, indent)
            _explicit(body, lines[i + 1 : end], out, refs)
            i = end
            continue
        if not para and body.startswith(">>>"):  # a doctest block runs to the next blank line
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            _code(lines[i:end], out)
            i = end
            continue
        if _RULE.fullmatch(line):
            i += 1
            continue
        para.append((indent, body))
        i += 1
    flush()


_LIST_ITEM = re.compile(r"([-*+\u2022|]|\(?(\d+|#|[a-zA-Z])[.)])(\s|$)")


def _unwrap(lines: Sequence[tuple[int, str]]) -> str:
    """A paragraph's lines joined as a reader sees them: wrapped prose as one line, list items apart."""
    text = lines[0][1]
    for (previous_indent, previous), (indent, line) in zip(lines, lines[1:]):
        continues = indent == previous_indent or (indent > previous_indent and _LIST_ITEM.match(previous))
        text += (" " if continues and not _LIST_ITEM.match(line) else "\n") + line
    return text


def _explicit(head: str, body: list[str], out: list[str], refs: Mapping[str, str]) -> None:
    """One explicit markup block: a directive, a footnote, or (dropped) a target, substitution or comment."""
    m = _DIRECTIVE.fullmatch(head)
    if m is None:
        note = _FOOTNOTE.fullmatch(head)
        if note:
            _render([note.group(1), *_dedent(body)], out, refs)
        return
    name, arg = m.group(1).lower(), (m.group(2) or "").strip()
    k, more = 0, []  # arguments may continue on the next lines, up to a blank line or the options
    while k < len(body) and body[k].strip() and not _OPTION.fullmatch(body[k]):
        more.append(body[k].strip())
        k += 1
    # then the options, with the continuation lines of long option values
    option_indent = _indent(body[k]) if k < len(body) else 0
    while k < len(body) and body[k].strip():
        if not (_OPTION.fullmatch(body[k]) or _indent(body[k]) > option_indent):
            break
        k += 1
    content = _dedent(body[k:])
    head_text = " ".join([arg, *more]).strip()
    if name in _DROP:
        return
    if name == "productionlist":  # the grammar rules are its argument lines; the argument names the grammar
        _code([line.replace("`", "") for line in more], out)
    elif name in _CODE:
        _code(content, out)
    elif name in ("versionadded", "versionchanged", "deprecated", "deprecated-removed"):
        parts = head_text.split(" ", 2 if name == "deprecated-removed" else 1)
        version, rest = parts[0], " ".join(parts[2 if name == "deprecated-removed" else 1 :])
        label = {
            "versionadded": f"New in version {version}.",
            "versionchanged": f"Changed in version {version}:",
            "deprecated": f"Deprecated since version {version}:",
        }.get(name)
        if label is None:
            removed = parts[1] if len(parts) > 1 else "?"
            label = f"Deprecated since version {version}, will be removed in version {removed}:"
        _labelled(label, [rest, ""] + content if rest else content, out, refs)
    elif name == "audit-event":
        words = arg.split()
        args = ", ".join(a for a in (words[1] if len(words) > 1 else "").split(",") if a)
        default = [
            f"Raises an auditing event {words[0] if words else ''} with "
            + (f"arguments {args}." if args else "no arguments.")
        ]
        _render(content if any(line.strip() for line in content) else default, out, refs)
    elif name == "availability":
        out += ["", f"Availability: {inline_text(head_text, refs).rstrip('.')}.", ""]
    elif name in _LABELLED:
        _labelled(_LABELLED[name], [head_text, ""] + content if head_text else content, out, refs)
    elif name in _OBJECTS or ":" in name:  # an API entry: its signatures verbatim, then its description
        prefix = _OBJECT_PREFIX.get(name, "")
        described: list[str] = []
        _render(content, described, refs)
        while described and not described[0].strip():
            described.pop(0)
        # no blank line after the signature: passages never separate it from its description
        out += ["", *(prefix + s for s in [arg, *more] if s), *described, ""]
    else:  # rubric, topic, sidebar, only, list-table, glossary ...: the title (if any), then the content
        out.append("")
        _render(([head_text, ""] if head_text else []) + content, out, refs)


def _labelled(label: str, lines: list[str], out: list[str], refs: Mapping[str, str]) -> None:
    rendered: list[str] = []
    _render(lines, rendered, refs)
    first = next((n for n, line in enumerate(rendered) if line.strip()), None)
    if first is not None and not rendered[first].startswith("    "):
        rendered[first] = f"{label} {rendered[first]}"
    else:
        rendered.insert(0, label)
    out += ["", *rendered, ""]
