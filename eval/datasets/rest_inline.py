"""Inline reST markup to the text a reader sees, as Sphinx renders the CPython 3.11 docs.

Roles and links become their text (``:func:`len``` -> ``len()``, following Sphinx's
``add_function_parentheses``; ``:ref:`` to the section title; ``:meth:`~a.b.c``` shows only ``c()``);
``|release|`` and ``|version|`` are "3.11". Used by the block renderer (``eval.datasets.rest``) and for
section titles (``eval.datasets.rest_sections``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_INLINE = re.compile(
    r"``(?P<lit>\S(?:.*?\S)??)``"
    r"|:(?P<role>[A-Za-z][\w.+-]*(?::[A-Za-z][\w.+-]*)*):`(?P<role_text>(?:[^`\\]|\\.)+)`"
    r"|`(?P<tick>(?:[^`\\]|\\.)+)`(?:__?)?"
    r"|\*\*(?P<strong>\S(?:.*?\S)??)\*\*"
    r"|(?<![\w*\\])\*(?P<emph>[^\s*](?:[^*]*?[^\s*\\])?)\*(?![\w*])"
    r"|(?P<fnref> ?\[(?:#\w*|\d+|\*)\]_)"
    r"|\\(?P<esc>.)"
    r"|\|(?P<subst>release|version|today)\|"
    r"|(?P<emdash>---)|(?<= )(?P<endash>--)(?= )",
    re.DOTALL,
)
_EXPLICIT_TITLE = re.compile(r"(.*?)\s*<([^<>]*)>", re.DOTALL)


def inline_text(text: str, refs: Mapping[str, str] | None = None) -> str:
    """Inline reST markup to the text a reader sees: ``:func:`len``` -> ``len()``, ````x```` -> ``x``."""
    refs = refs or {}

    def replace(m: re.Match[str]) -> str:
        if m.group("lit") is not None:
            return m.group("lit")
        if m.group("role") is not None:
            name = m.group("role").rsplit(":", 1)[-1]  # py:func -> func
            return _role(name, re.sub(r"\\(.)", r"\1", m.group("role_text")), refs)
        if m.group("tick") is not None:  # `text <url>`_, `ref`_ or the default role
            titled = _EXPLICIT_TITLE.fullmatch(m.group("tick"))
            return (titled.group(1) or titled.group(2)) if titled else m.group("tick")
        for name in ("strong", "emph"):
            if m.group(name) is not None:
                return m.group(name)
        if m.group("fnref") is not None:
            return ""
        if m.group("esc") is not None:
            return "" if m.group("esc").isspace() else m.group("esc")
        if m.group("subst") is not None:
            return "3.11" if m.group("subst") != "today" else ""
        return "\u2014" if m.group("emdash") else "\u2013"  # Sphinx's smartquotes turn --- and -- into dashes

    return _INLINE.sub(replace, text)


def _role(name: str, text: str, refs: Mapping[str, str]) -> str:
    titled = _EXPLICIT_TITLE.fullmatch(text)
    if titled and titled.group(1):
        return titled.group(1)
    target = titled.group(2) if titled else text
    shown = target.lstrip("!")
    if shown.startswith("~"):  # :meth:`~a.b.c` shows only "c"
        shown = shown[1:].rsplit(".", 1)[-1]
    if name in ("ref", "numref"):
        return refs.get(shown.lower(), shown)
    if name == "doc":
        return refs.get("doc:" + shown.lower(), shown.rsplit("/", 1)[-1])
    if name in ("pep", "rfc"):
        return f"{name.upper()} {shown.split('#')[0]}"
    if name in ("issue", "gh"):
        return f"{'bpo' if name == 'issue' else 'gh'}-{shown}"
    if name in ("func", "meth") and not shown.endswith(")"):
        return shown + "()"  # Sphinx's add_function_parentheses, on by default
    if name in ("samp", "file"):
        return re.sub(r"(?<!\\)[{}]", "", shown)  # {placeholders} render in italics, without braces
    if name == "menuselection":
        return shown.replace("-->", "\u2023")
    return shown
