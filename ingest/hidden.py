"""Text a reader cannot see: found at ingestion and left out of the index.

Planted instructions hide where a person reading the page will not notice
them but a text extractor will: a ``display:none`` block, white-on-white or
1-pixel text, a paragraph pushed off screen, or, in a PDF, text filled in
white, drawn 1 pt tall, in the invisible render mode, or outside the page.
What the reader cannot see is not something they meant to ask about, so it
is dropped before chunking. The rules look at inline styles, attributes and
the PDF content stream only:

- HTML: ``hidden``, ``aria-hidden="true"``, and inline ``style`` (or
  ``<font color>``) that hides: ``display:none``, ``visibility:hidden``,
  ``opacity:0``, a font size of at most 1px, near-white or transparent text
  with no dark background on the element or an ancestor, a large negative
  offset or ``text-indent``, a zero ``clip``/``clip-path``, ``scale(0)``.
  Class rules in ``<style>`` sheets are not evaluated (that needs a CSS
  engine): a known gap.
- PDF: text shown while the fill colour is near white, the render mode is 3
  (invisible) or 7, the rendered size is under ``MIN_PDF_TEXT_PT``, or the
  origin is outside the page by more than a margin. Text inside form
  XObjects is not inspected (a known gap). "White" assumes a white page, the
  common case; text on a drawn white box over a dark page would be lost.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, cast

MIN_HTML_FONT_PX = 1.0
MIN_PDF_TEXT_PT = 1.5
OFFSCREEN_PX = 500  # offsets further negative than this move text out of any window
LIGHT = 0.94  # each channel at least this bright counts as white on a white page

_DECLARATION = re.compile(r"([a-z-]+)\s*:\s*([^;]+)", re.IGNORECASE)
_LENGTH = re.compile(r"^(-?\d*\.?\d+)\s*(px|pt|em|rem|%|vw|vh|cm|mm|in)?$")
_HEX = re.compile(r"^#([0-9a-f]{3,8})$")
_FUNCTION = re.compile(r"^(rgba?|hsla?)\(([^)]*)\)$")
_NAMED = {
    "white": (1.0, 1.0, 1.0),
    "snow": (1.0, 0.98, 0.98),
    "ivory": (1.0, 1.0, 0.94),
    "whitesmoke": (0.96, 0.96, 0.96),
    "black": (0.0, 0.0, 0.0),
}


def _style(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    return {
        k.lower(): v.strip().lower().replace("!important", "").strip() for k, v in _DECLARATION.findall(value)
    }


def _px(value: str) -> float | None:
    """A CSS length in px (em taken as 16px); None when it is not a plain length."""
    match = _LENGTH.match(value.strip())
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2) or "px"
    return number * {"pt": 4 / 3, "em": 16, "rem": 16, "cm": 37.8, "mm": 3.78, "in": 96}.get(unit, 1)


def _rgba(value: str) -> tuple[float, float, float, float] | None:
    value = value.strip()
    if value == "transparent":
        return (0.0, 0.0, 0.0, 0.0)
    if value in _NAMED:
        return (*_NAMED[value], 1.0)
    if match := _HEX.match(value):
        digits = match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) not in (6, 8):
            return None
        channels = [int(digits[i : i + 2], 16) / 255 for i in range(0, len(digits), 2)]
        return (channels[0], channels[1], channels[2], channels[3] if len(channels) == 4 else 1.0)
    if match := _FUNCTION.match(value):
        parts = [p.strip() for p in re.split(r"[,\s/]+", match.group(2)) if p.strip()]
        try:
            numbers = [float(p.rstrip("%")) / (100 if p.endswith("%") else 1) for p in parts]
        except ValueError:
            return None
        if len(numbers) < 3:
            return None
        alpha = numbers[3] if len(numbers) > 3 else 1.0
        if match.group(1).startswith("rgb"):
            red, green, blue = (numbers[i] if parts[i].endswith("%") else numbers[i] / 255 for i in range(3))
            return (red, green, blue, alpha)
        lightness = numbers[2] if parts[2].endswith("%") else numbers[2] / 100
        return (lightness, lightness, lightness, alpha)  # enough to tell white from the rest
    return None


def _light(rgba: tuple[float, float, float, float] | None) -> bool:
    return rgba is not None and (rgba[3] <= 0.05 or min(rgba[:3]) >= LIGHT)


def _background(style: dict[str, str]) -> tuple[float, float, float, float] | None:
    for key in ("background-color", "background"):
        if key in style:
            for token in [style[key], *style[key].split()]:
                if (colour := _rgba(token)) is not None:
                    return colour
    return None


def html_element_hidden(node: Any) -> bool:
    """True when an lxml element (and so everything in it) is not visible to a reader."""
    if node.get("hidden") is not None or (node.get("aria-hidden") or "").strip().lower() == "true":
        return True
    style = _style(node.get("style"))
    if node.tag == "font" and node.get("color"):
        style.setdefault("color", node.get("color").strip().lower())
    if not style:
        return False
    if style.get("display") == "none" or style.get("visibility") in ("hidden", "collapse"):
        return True
    opacity = _px(style.get("opacity", "1"))
    if opacity is not None and opacity <= 0.05:
        return True
    size = _px(style.get("font-size", ""))
    if size is not None and size <= MIN_HTML_FONT_PX:
        return True
    for key in ("left", "top", "right", "margin-left", "margin-top", "text-indent"):
        offset = _px(style.get(key, ""))
        if offset is not None and offset <= -OFFSCREEN_PX:
            return True
    if re.sub(r"\s", "", style.get("clip", "")) in ("rect(0,0,0,0)", "rect(0000)", "rect(0px,0px,0px,0px)"):
        return True
    if "inset(50%)" in style.get("clip-path", "") or "scale(0)" in style.get("transform", ""):
        return True
    if (
        "height" in style and _px(style["height"]) == 0 or "width" in style and _px(style["width"]) == 0
    ) and style.get("overflow") == "hidden":
        return True
    if "color" in style and _light(_rgba(style["color"])):
        return not _dark_background_behind(node)
    return False


def _dark_background_behind(node: Any) -> bool:
    """Whether the nearest declared background (the element's own, else an ancestor's) is not light."""
    for element in [node, *node.iterancestors()]:
        background = _background(_style(element.get("style")))
        if element.get("bgcolor"):
            background = background or _rgba(element.get("bgcolor").strip().lower())
        if background is not None and background[3] > 0.05:
            return not _light(background)
    return False


# -- Markdown ---------------------------------------------------------------------------------------

# An HTML opening tag written inside Markdown. Only tags that hide something are followed to their
# closing tag (searching from every <br> would be quadratic on a large file); a nested element of the same
# name ends the search early, so the rest stays in the text: a miss costs hidden text, not visible text.
_OPENING_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)(\s[^<>]*)>")
_ATTRIBUTE = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")


class _Tag:
    """Just enough of an lxml element for ``html_element_hidden``: a tag, attributes, no ancestors."""

    def __init__(self, tag: str, attributes: str) -> None:
        self.tag = tag.lower()
        self.attrib = {k.lower(): (v or "").strip("\"'") for k, v in _ATTRIBUTE.findall(attributes or "")}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrib.get(key, default)

    def iterancestors(self) -> list[Any]:
        return []


def strip_hidden_markdown_html(text: str) -> str:
    """Markdown without the raw HTML elements in it that a reader would not see once rendered."""
    if "<" not in text:
        return text
    kept, position = [], 0
    closings: dict[str, re.Match[str] | None] = {}  # per tag name, the next closing tag found so far
    for match in _OPENING_TAG.finditer(text):
        if match.start() < position or not html_element_hidden(_Tag(match.group(1), match.group(2))):
            continue
        name = match.group(1).lower()
        closing = cast("re.Match[str] | None | Literal[False]", closings.get(name, False))
        if closing is False or (closing is not None and closing.start() < match.end()):
            closing = closings[name] = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(text, match.end())
        kept.append(text[position : match.start()])
        position = closing.end() if closing else match.end()  # unclosed: only the tag itself goes
    return "".join(kept) + text[position:]


# -- PDF ---------------------------------------------------------------------------------------------

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_SHOW = {b"Tj", b"TJ", b"'", b'"'}


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def _numbers(operands: list[Any]) -> list[float]:
    out = []
    for value in operands:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):  # a damaged stream can say "1e999"
            out.append(number)
    return out


def _white_fill(numbers: list[float], operator: bytes) -> bool:
    if operator == b"k" or (operator in (b"sc", b"scn") and len(numbers) == 4):
        return len(numbers) == 4 and max(numbers) <= 1 - LIGHT
    return bool(numbers) and len(numbers) in (1, 3) and min(numbers) >= LIGHT


def strip_hidden_pdf_text(page: Any, reader: Any) -> int:
    """Blank out the text-showing operations of ``page`` that a reader cannot see; return how many.

    The page's content stream is replaced in memory (the file is not written), so pypdf's own
    ``extract_text`` then reads only the visible text, with its usual layout and font decoding.
    """
    from pypdf.generic import ArrayObject, ContentStream, NameObject, TextStringObject

    contents = page.get_contents()
    if contents is None:
        return 0
    stream = ContentStream(contents, reader)
    box = page.mediabox
    left, bottom, right, top = float(box.left), float(box.bottom), float(box.right), float(box.top)
    margin = 0.1 * max(right - left, top - bottom)
    # Colour, matrix and the text state (size, leading, render mode) are all graphics state: q/Q save them.
    state: dict[str, Any] = {"ctm": _IDENTITY, "white": False, "size": 12.0, "leading": 0.0, "mode": 0}
    saved: list[dict[str, Any]] = []
    text_matrix = line_matrix = _IDENTITY
    dropped = 0
    operations = stream.operations
    for index, (operands, operator) in enumerate(operations):
        if operator == b"q":
            saved.append(dict(state))
        elif operator == b"Q" and saved:
            state = saved.pop()
        elif operator == b"cm" and len(numbers := _numbers(operands)) == 6:
            state["ctm"] = _multiply(tuple(numbers), state["ctm"])  # type: ignore[arg-type]
        elif operator in (b"g", b"rg", b"k", b"sc", b"scn"):
            state["white"] = _white_fill(_numbers(operands), operator)
        elif operator == b"cs":
            state["white"] = False  # a new colour space starts at black
        elif operator == b"BT":
            text_matrix = line_matrix = _IDENTITY
        elif operator == b"Tf" and (numbers := _numbers(operands)):
            state["size"] = numbers[-1]
        elif operator == b"TL" and (numbers := _numbers(operands)):
            state["leading"] = numbers[0]
        elif operator == b"Tr" and (numbers := _numbers(operands)):
            state["mode"] = int(numbers[0])
        elif operator == b"Tm" and len(numbers := _numbers(operands)) == 6:
            text_matrix = line_matrix = tuple(numbers)  # type: ignore[assignment]
        elif operator in (b"Td", b"TD") and len(numbers := _numbers(operands)) == 2:
            if operator == b"TD":
                state["leading"] = -numbers[1]
            text_matrix = line_matrix = _multiply((1, 0, 0, 1, numbers[0], numbers[1]), line_matrix)
        elif operator == b"T*" or operator in (b"'", b'"'):
            text_matrix = line_matrix = _multiply((1, 0, 0, 1, 0, -state["leading"]), line_matrix)
        if operator not in _SHOW:
            continue
        rendering = _multiply(text_matrix, state["ctm"])
        size = abs(state["size"]) * math.sqrt(abs(rendering[0] * rendering[3] - rendering[1] * rendering[2]))
        x, y = rendering[4], rendering[5]
        outside = x < left - margin or x > right + margin or y < bottom - margin or y > top + margin
        if state["white"] or state["mode"] in (3, 7) or size < MIN_PDF_TEXT_PT or outside:
            blank = ArrayObject() if operator == b"TJ" else TextStringObject("")
            operations[index] = ([*operands[:-1], blank], operator)
            dropped += 1
    if dropped:
        stream.operations = operations
        # Set directly: pypdf's replace_contents() is for writers, and this page lives only in memory.
        page[NameObject("/Contents")] = stream
    return dropped
